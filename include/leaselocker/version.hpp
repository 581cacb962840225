/// @file
/// The library's version (CMakeLists.txt's project() checks that it agrees).
#pragma once

#define LEASELOCKER_VERSION_MAJOR 0
#define LEASELOCKER_VERSION_MINOR 2
#define LEASELOCKER_VERSION_PATCH 0
// MAJOR * 10000 + MINOR * 100 + PATCH, for #if.
#define LEASELOCKER_VERSION 200
#define LEASELOCKER_VERSION_STRING "0.2.0"
