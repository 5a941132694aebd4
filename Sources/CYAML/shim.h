#ifndef SWCOMPOSE_CYAML_SHIM_H
#define SWCOMPOSE_CYAML_SHIM_H
#include <yaml.h>
#endif
