//! Node processes: spawn in their own process group, kill, pause, resume, log stderr, clean up on exit.
