"""An environment's life: up, down, list, status, env and gc from the labels on real resources, and the reaper
that removes what a dead test session left."""
