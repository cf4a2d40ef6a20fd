#!/usr/bin/env bash
# Remove what a local training run leaves behind: the SageMaker SDK's job folders and the ROS
# and Gazebo logs. Asks first unless -y is given.
#   clean_up_local.sh [-y]
set -euo pipefail
case "${1:-}" in
    -y) ;;
    "")
        read -r -p "remove /tmp/sagemaker/*, ~/.ros/log and ~/.gazebo/log? [y/N] " answer
        [ "$answer" = y ] || exit 0
        ;;
    *)
        echo "usage: clean_up_local.sh [-y]" >&2
        exit 2
        ;;
esac
rm -rf /tmp/sagemaker/* "$HOME/.ros/log" "$HOME/.gazebo/log"
echo "cleaned up"
