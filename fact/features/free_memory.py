"""How much memory a device has free, for refusing work that cannot fit before it starts."""

from __future__ import annotations

import os

import torch


def free_memory(device: torch.device) -> int:
    """Bytes free on the device: CUDA's own count, or the host's available physical memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:  # Linux: free memory plus the page cache the kernel would give back
        with open("/proc/meminfo") as meminfo:
            return next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # no such sysconf name (macOS, Windows): assume plenty
        return 1 << 62
