#!/bin/sh
# kubeharden lab only (docs/kubelet-in-lab.md): what a kubelet needs that an nspawn host lacks. Nothing here
# touches the machine: the mounts are in this host's own mount namespace.
set -eu

# 1. nspawn mounts the cgroup v1 controllers read-only; this host has its own cgroup in each (the launcher made it).
for d in /sys/fs/cgroup/*/; do
    if mountpoint -q "$d"; then
        mount -o remount,bind,rw "$d" || echo "node_prep: could not make $d writable" >&2
    fi
done

# 2. The kubelet opens /dev/kmsg (fatal when missing); a container has none. What kind does.
[ -e /dev/kmsg ] || ln -s /dev/console /dev/kmsg

# 3. /proc/sys is read-only here except net.*: the kernel settings the kubelet writes (and checks, with
#    protectKernelDefaults) get writable copies, seeded from this node's sysctl files as a boot would apply them,
#    else from the kernel's values. `sysctl -p` then writes the copies; the machine's kernel is never changed.
dir=/run/kubeharden-lab/sysctl
mkdir -p "$dir"
for key in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
        kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
    file="/proc/sys/$(echo "$key" | tr . /)"
    if grep -q " $file " /proc/self/mountinfo; then
        continue
    fi
    value=$(cat /etc/sysctl.d/*.conf /etc/sysctl.conf 2>/dev/null \
        | sed -n "s/^[[:space:]]*$key[[:space:]]*=[[:space:]]*//p" | tail -n 1)
    [ -n "$value" ] || value=$(cat "$file")
    echo "$value" > "$dir/$key"
    mount --bind "$dir/$key" "$file"
done
