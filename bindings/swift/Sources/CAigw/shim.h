#ifndef AIGW_SWIFT_SHIM_H
#define AIGW_SWIFT_SHIM_H
#include <aigw.h>
#endif
