#!/bin/sh
# In the VM image (mk/v2vm.py) as /usr/local/sbin/v2vm-boot, run once at boot by v2vm.service:
# mount the run's payload disk and the 9p results share, run the payload's mk/v2vm-guest.sh,
# and power off whatever happened. Kept small on purpose: changing it rebuilds the image.
echo "v2vm: booted: kernel $(uname -r), $(cat /proc/self/cgroup)"
mkdir -p /v2vm/payload /v2vm/results
rc=1
if ! mount -t ext4 /dev/vdb /v2vm/payload; then
    echo "v2vm: error: cannot mount the payload disk /dev/vdb"
elif ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results /v2vm/results; then
    echo "v2vm: error: cannot mount the 9p results share"
else
    bash /v2vm/payload/v2vm/guest.sh
    rc=$?
fi
echo "v2vm: guest finished with status $rc"
sync
systemctl --no-block poweroff
