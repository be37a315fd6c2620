"""An environment's life: up, sync, down, list, status, env, extend and gc from the labels on real resources,
whatever its target, and the reaper that removes what a dead test session left."""
