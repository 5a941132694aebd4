#ifndef SWCOMPOSE_CARCHIVE_SHIM_H
#define SWCOMPOSE_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
#endif
