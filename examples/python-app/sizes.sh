#!/bin/sh
# The three sizes of lesson 13: the minimal python app, busybox, and the app built the fat way.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
minictr=${MINICTR:-minictr}
"$here/build.sh" > /dev/null
MINICTR="$minictr" "$here/fat-base.sh" > /dev/null
"$minictr" build -q -t my-python-app-fat -f "$here/Containerfile.fat" "$here" > /dev/null
"$minictr" image build-default > /dev/null
"$minictr" images
