"""The audit trail's sender: the operator's decisions and the spec changes it saw, to the
namespace's monitor, which keeps them in the artifact store."""
