-- Hold the rollout where it is: weights stay, no step advances.
obj.spec.paused = true
return obj
