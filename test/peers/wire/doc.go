// Package wire holds only a test: Leases that leaselocker wrote, read with
// client-go's own types and judged by client-go's own leader election.
package wire
