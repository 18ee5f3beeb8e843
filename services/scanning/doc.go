// Package scanning is the scanning service: assets, ownership verification, scan grants, read-only posture scans and their findings and reports.
package scanning
