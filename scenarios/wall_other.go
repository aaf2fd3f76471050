//go:build !unix

package scenarios

import "time"

// wallNow is time.Now where the real clock cannot be read otherwise; inside
// a synctest bubble it then reports virtual time.
func wallNow() time.Time { return time.Now() }
