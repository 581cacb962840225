/// @file
/// The library's version (CMakeLists.txt's project() checks that it agrees).
#pragma once

/// The first number of the version (0 in 0.2.0).
#define LEASELOCKER_VERSION_MAJOR 0
/// The second number of the version (2 in 0.2.0).
#define LEASELOCKER_VERSION_MINOR 2
/// The third number of the version (0 in 0.2.0).
#define LEASELOCKER_VERSION_PATCH 0
/// MAJOR * 10000 + MINOR * 100 + PATCH, for `#if`.
#define LEASELOCKER_VERSION 200
/// "MAJOR.MINOR.PATCH"; also in client_options::user_agent's default.
#define LEASELOCKER_VERSION_STRING "0.2.0"
