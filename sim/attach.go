package sim

// Attach stores value on the scheduler under key, for layers built on it
// that the scheduler cannot know about: simtest attaches a trace-file
// writer that vnet's routers pick up when they are made. Keys compare like
// map keys; use an unexported type. A nil value removes the key. Safe from
// any goroutine.
func (s *Scheduler) Attach(key, value any) {
	if value == nil {
		s.attached.Delete(key)
		return
	}
	s.attached.Store(key, value)
}

// Attached returns the value stored under key by Attach, or nil.
func (s *Scheduler) Attached(key any) any {
	v, _ := s.attached.Load(key)
	return v
}
