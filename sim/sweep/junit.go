package sweep

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// The JUnit XML schema that CI systems (Jenkins, GitLab, GitHub test
// reporters) read: testsuites > testsuite > testcase, a failure element for
// each failing case.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes the finished summary as JUnit XML: one testsuite named
// after the sweep, one testcase per seed ("seed=N"), its time the run's
// virtual time in seconds, a failure (or error) element carrying the message,
// the signature, the last event and the reproduction command.
func (s *Summary) WriteJUnit(w io.Writer) error {
	s.Finish()
	suite := junitSuite{
		Name:       s.Name,
		Tests:      s.Seeds,
		Time:       seconds(s.Elapsed.Seconds()),
		Properties: []junitProperty{{Name: "shard", Value: s.Shard}},
	}
	for _, r := range s.Results {
		c := junitCase{Name: fmt.Sprintf("seed=%d", r.Seed), Classname: s.Name, Time: seconds(r.VirtualTime.Seconds())}
		if r.Failed() {
			var body strings.Builder
			fmt.Fprintf(&body, "signature: %s\n", r.Signature)
			if r.LastEvent != "" {
				fmt.Fprintf(&body, "last event: %s\n", r.LastEvent)
			}
			if r.Repro != "" {
				fmt.Fprintf(&body, "reproduce: %s\n", r.Repro)
			}
			f := &junitFailure{Message: r.Message, Type: r.Signature, Body: body.String()}
			if r.Outcome == Error {
				c.Error = f
				suite.Errors++
			} else {
				c.Failure = f
				suite.Failures++
			}
		}
		suite.Cases = append(suite.Cases, c)
	}
	doc := junitSuites{Name: s.Name, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("sweep: write junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(s float64) string { return fmt.Sprintf("%.6f", s) }
