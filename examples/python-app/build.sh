#!/bin/sh
# Build the slides' python app offline, as a minimal image (run as root, from anywhere).
#   examples/python-app/build.sh             -> images python-min and my-python-app
# Then:
#   minictr run -d -p 8081:80 --name my-python-app my-python-app   (with published ports)
#   curl http://127.0.0.1:8081/
set -eu
here=$(cd "$(dirname "$0")" && pwd)
minictr=${MINICTR:-minictr}
python=/usr/bin/python3
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$minictr" image from-binary "$python" --add "/usr/lib/python$version" -t python-min
"$minictr" build -t my-python-app "$here"
"$minictr" images
