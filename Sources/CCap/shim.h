#ifndef AUTONOUS_CCAP_SHIM_H
#define AUTONOUS_CCAP_SHIM_H
#include <sys/capability.h>
#endif
