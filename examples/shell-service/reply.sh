#!/bin/sh
# One answer per connection: who we are and how long we have been up.
printf '%s up %s seconds on %s\n' "$SERVICE_NAME" "$(cut -d. -f1 /proc/uptime)" "$(hostname)"
