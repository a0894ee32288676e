# cloud-init may still be running on a fresh VM: wait until it is done (cloud-init status
# --wait), so nothing it does later undoes this step. Exit 2 means it finished with
# recoverable errors, which is not ours to fail on; anything else is (the docs'
# "cloud-init status" reference lists the codes).
if command -v cloud-init >/dev/null 2>&1; then
  cloud_init_status=0
  cloud-init status --wait >/dev/null || cloud_init_status=$?
  if [ "$cloud_init_status" -ne 0 ] && [ "$cloud_init_status" -ne 2 ]; then
    echo "cloud-init did not finish (cloud-init status --wait: exit $cloud_init_status);" \
         "see /var/log/cloud-init.log" >&2
    exit 1
  fi
fi
