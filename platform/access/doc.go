// Package access reads each RPC's declared access rule from the proto
// descriptors and defines the authorization hook the server chain calls.
package access
