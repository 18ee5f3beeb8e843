// Package deploy holds the Kubernetes packaging of Pythorix: the container image
// (Dockerfile), the Helm chart under helm/pythorix, and tests that render the chart with
// the Helm SDK and check every object it produces, without a cluster.
package deploy
