#pragma once
// qanet I/O: TIFF (libtiff), Cell Tracking Challenge folders, atomic file writes.
