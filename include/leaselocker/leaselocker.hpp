/// @file
/// leaselocker: distributed locks on Kubernetes Leases, for Boost.Asio.
#pragma once

#include <leaselocker/config/cluster_config.hpp>
#include <leaselocker/config/kubeconfig.hpp>
#include <leaselocker/error.hpp>
#include <leaselocker/fencing/admission_fence.hpp>
#include <leaselocker/leader/leader_elector.hpp>
#include <leaselocker/leader/lease_candidate.hpp>
#include <leaselocker/leader/lease_observer.hpp>
#include <leaselocker/lease/lease.hpp>
#include <leaselocker/lease/lease_client.hpp>
#include <leaselocker/lease/lease_watch.hpp>
#include <leaselocker/lease/lease_watch_hub.hpp>
#include <leaselocker/lease/micro_time.hpp>
#include <leaselocker/locker/lease_locker.hpp>
#include <leaselocker/locker/metrics.hpp>
#include <leaselocker/locker/resource_lock.hpp>
#include <leaselocker/log.hpp>
#include <leaselocker/transport/client.hpp>
#include <leaselocker/version.hpp>
