#!/usr/bin/env bash
# Builds the VM test's Vagrant box from Debian's packages only (no download
# from Vagrant Cloud): Debian 12 with its stock kernel (which has IPVS),
# containerd, runc, nftables and ipvsadm, booted directly from the kernel
# and initrd beside the image (the image has no boot loader).
#   build-box.sh DIR      writes DIR/{vmlinuz,initrd.img,shoal-debian12.box}
# 1.5 to 4 minutes (the downloads); the harness keeps DIR as a cache.
set -euo pipefail
dir=$(realpath -m "$1")
mkdir -p "$dir"
cd "$dir"
key=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub | head -1)
[ -f "$key" ] || { echo "build-box: vagrant's insecure public key not found (install vagrant)" >&2; exit 1; }
pkgs=systemd-sysv,udev,dbus,openssh-server,sudo,iproute2,iputils-ping,kmod,procps,netbase,curl
pkgs=$pkgs,linux-image-amd64,initramfs-tools,containerd,runc,nftables,ipvsadm,ca-certificates
rm -rf rootfs box.img box.raw
mmdebstrap --variant=minbase --include="$pkgs" \
	--customize-hook='chroot "$1" useradd -m -s /bin/bash -G sudo vagrant' \
	--customize-hook='echo "vagrant ALL=(ALL) NOPASSWD:ALL" >"$1/etc/sudoers.d/vagrant"; chmod 440 "$1/etc/sudoers.d/vagrant"' \
	--customize-hook="install -d -m 700 \"\$1/home/vagrant/.ssh\"; install -m 600 $key \"\$1/home/vagrant/.ssh/authorized_keys\"" \
	--customize-hook='chroot "$1" chown -R vagrant:vagrant /home/vagrant/.ssh' \
	--customize-hook='echo "/dev/vda / ext4 defaults,errors=remount-ro 0 1" >"$1/etc/fstab"; echo debian >"$1/etc/hostname"; printf "127.0.0.1 localhost\n127.0.1.1 debian\n" >"$1/etc/hosts"' \
	--customize-hook='printf "[Match]\nName=en* eth*\n[Network]\nDHCP=yes\n" >"$1/etc/systemd/network/99-dhcp.network"' \
	--customize-hook='chroot "$1" systemctl enable systemd-networkd' \
	--customize-hook='chroot "$1" systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer' \
	--customize-hook='echo "UseDNS no" >"$1/etc/ssh/sshd_config.d/vagrant.conf"; rm -f "$1"/etc/ssh/ssh_host_*; chroot "$1" ssh-keygen -A' \
	--customize-hook='printf "ip_vs\nip_vs_rr\nip_vs_wrr\nvxlan\nbr_netfilter\noverlay\n" >"$1/etc/modules-load.d/shoal.conf"' \
	bookworm rootfs
cp -L rootfs/boot/vmlinuz-* vmlinuz
cp -L rootfs/boot/initrd.img-* initrd.img
truncate -s 4G box.raw # sparse; filled from the directory without a mount
mkfs.ext4 -q -F -L root -d rootfs box.raw
qemu-img convert -c -O qcow2 box.raw box.img
rm -f box.raw
rm -rf rootfs
printf '{"provider":"libvirt","format":"qcow2","virtual_size":4}\n' >metadata.json
printf 'Vagrant.configure("2") do |c|\n  c.vm.provider :libvirt do |lv|\n    lv.driver = "qemu"\n  end\nend\n' >Vagrantfile
tar cf shoal-debian12.box.tmp metadata.json Vagrantfile box.img
rm -f box.img metadata.json Vagrantfile
mv shoal-debian12.box.tmp shoal-debian12.box
ls -la "$dir"
