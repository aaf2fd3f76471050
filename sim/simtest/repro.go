package simtest

import "strings"

// BuildTags names the build tags the test's file needs (a generated test
// behind //go:build vnetsim_shrunk): the command a failing run logs to
// reproduce it then passes them with -tags, or it would find no test.
func BuildTags(tags ...string) Option {
	return func(o *options) { o.tags = append(o.tags, tags...) }
}

// ReproCommandTags is ReproCommand for a test that needs build tags: the
// command passes them to go test with -tags. With no tags it is
// ReproCommand.
func ReproCommandTags(test string, seed uint64, tags ...string) string {
	cmd := ReproCommand(test, seed)
	if len(tags) == 0 {
		return cmd
	}
	return strings.Replace(cmd, " go test -count=1 ", " go test -count=1 -tags "+strings.Join(tags, ",")+" ", 1)
}
