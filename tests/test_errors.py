"""sync/errors.py: what counts as a disk fault, and how it is named.

A disk fault is the kernel's refusal (a full disk or quota, a read-only filesystem, a file-size
limit, an I/O error), whether it arrives as an ``OSError`` with its errno or, from libgit2, as
text holding the system's message; everything else is not one and keeps its own error.
"""

from __future__ import annotations

import errno
import os

import pytest

from sync.errors import (
    DISK_ERRNOS,
    DiskFault,
    GitError,
    as_disk_fault,
    disk_fault_reason,
    disk_faults,
)


@pytest.mark.parametrize("code", DISK_ERRNOS)
def test_an_os_error_with_a_disk_errno_is_a_disk_fault(code: int):
    assert disk_fault_reason(OSError(code, os.strerror(code))) == os.strerror(code)


def test_libgit2_text_naming_the_reason_is_a_disk_fault():
    error = OSError("failed to write out file: No space left on device")  # no errno
    assert disk_fault_reason(error) == os.strerror(errno.ENOSPC)


@pytest.mark.parametrize("error", [OSError(errno.EACCES, "Permission denied"),
                                   ValueError("bad value"), GitError("No space left on device"),
                                   FileNotFoundError(errno.ENOENT, "No such file")])
def test_other_errors_are_not_disk_faults(error: BaseException):
    assert disk_fault_reason(error) is None
    assert as_disk_fault(error) is None


def test_a_disk_fault_names_the_operation_the_path_and_the_reason_and_exits_1():
    fault = as_disk_fault(OSError(errno.EROFS, "Read-only file system", "/x/.tmp123"),
                          "writing", "docker/Dockerfile.cpu")
    assert isinstance(fault, DiskFault) and fault.exit_code == 1
    assert fault.message == "writing docker/Dockerfile.cpu: Read-only file system"


def test_without_a_path_the_error_names_its_own_file():
    fault = as_disk_fault(OSError(errno.EFBIG, "File too large", "/repo/.git/index"))
    assert fault is not None and fault.message == "writing /repo/.git/index: File too large"


def test_disk_faults_turns_the_block_s_disk_fault_into_a_disk_fault_and_lets_others_through():
    expected = "^writing patches/series: No space left on device$"
    with pytest.raises(DiskFault, match=expected), disk_faults("writing", "patches/series"):
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(PermissionError), disk_faults("writing", "patches/series"):
        raise PermissionError(errno.EACCES, "Permission denied")
