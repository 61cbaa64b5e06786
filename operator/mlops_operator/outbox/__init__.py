"""Records the operator sends away from the reconcile path: the audit trail to each
namespace's monitor, notifications to the Deployments' webhooks (one queueing sender)."""
