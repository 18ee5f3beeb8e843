// Package integrations is the integrations service: outbound signed webhooks and notifiers and verified inbound webhooks.
package integrations
