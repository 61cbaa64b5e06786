"""mlops-operator: a kopf operator that trains, versions, canaries and rolls back models."""
