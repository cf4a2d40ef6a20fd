"""Follow a log file and send its new lines to a CloudWatch Logs stream, until killed.

    cloudwatch_uploader.py --cw_log_group_name GROUP --cw_log_stream_name STREAM
                           --log_symlink_file_path FILE [--interval SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator

MAX_BATCH = 1000  # CloudWatch's limit of events per PutLogEvents call


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cw_log_group_name", required=True)
    parser.add_argument("--cw_log_stream_name", required=True)
    parser.add_argument("--log_symlink_file_path", required=True)
    parser.add_argument("--interval", type=float, default=5.0)
    return parser.parse_args(argv)


def batches(lines: list[str], now_ms: int) -> Iterator[list[dict[str, object]]]:
    """``lines`` as PutLogEvents batches."""
    events = [{"timestamp": now_ms, "message": line.rstrip("\n")} for line in lines if line.strip()]
    for start in range(0, len(events), MAX_BATCH):
        yield events[start:start + MAX_BATCH]


def follow(args: argparse.Namespace) -> None:
    """Upload new lines every ``interval`` seconds (the file may appear later)."""
    import boto3

    logs = boto3.client("logs")
    for create, name in ((logs.create_log_group, {"logGroupName": args.cw_log_group_name}),
                         (logs.create_log_stream, {"logGroupName": args.cw_log_group_name,
                                                   "logStreamName": args.cw_log_stream_name})):
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            create(**name)
    offset = 0
    while True:
        if os.path.exists(args.log_symlink_file_path):
            with open(args.log_symlink_file_path, encoding="utf-8", errors="replace") as stream:
                stream.seek(offset)
                lines = stream.readlines()
                offset = stream.tell()
            for batch in batches(lines, int(time.time() * 1000)):
                logs.put_log_events(logGroupName=args.cw_log_group_name,
                                    logStreamName=args.cw_log_stream_name, logEvents=batch)
        time.sleep(args.interval)


if __name__ == "__main__":
    follow(arguments())
