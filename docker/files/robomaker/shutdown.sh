#!/usr/bin/env bash
# Stop the robomaker container from inside: give the simulation five seconds to finish what it
# is writing, then end PID 1 (the container's init), which stops the container.
set -euo pipefail

sleep 5
echo "Bye!"
kill -TERM 1
