package impair

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shapers are the Config fields that only shape another model and so leave
// a config perfect on their own (see Config.IsPerfect). Every other field
// turns a model on.
var shapers = map[string]bool{
	"Distribution": true, "Correlation": true, "JitterReorders": true,
	"ReorderGap": true, "CorruptMode": true,
	"Overhead": true, "QueuePackets": true, "QueueBytes": true, "Burst": true,
}

// setNonZero gives v (settable) a non-zero value of its kind.
func setNonZero(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
	case reflect.Struct:
		require.Positive(t, v.NumField(), "%s has no field to set", v.Type())
		setNonZero(t, v.Field(0))
	default:
		require.FailNow(t, "setNonZero: no non-zero value for this kind", "%s", v.Kind())
	}
	require.False(t, v.IsZero(), "%s", v.Type())
}

// Every field of Config is either a model (non-zero: not perfect) or a
// shaper of one (non-zero alone: still perfect). A new field fails here until
// IsPerfect and shapers say which it is, so a new model cannot slip past the
// perfect-link fast path in vnet.
func TestConfigIsPerfectKnowsEveryField(t *testing.T) {
	assert.True(t, Config{}.IsPerfect(), "the zero config is a perfect link")
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		t.Run(f.Name, func(t *testing.T) {
			var c Config
			setNonZero(t, reflect.ValueOf(&c).Elem().Field(i))
			if shapers[f.Name] {
				assert.True(t, c.IsPerfect(), "%s only shapes another model", f.Name)
			} else {
				assert.False(t, c.IsPerfect(), "%s set: a model is on, the link is not perfect (a new field? add it to IsPerfect, or to shapers)", f.Name)
			}
		})
	}
	for name := range shapers {
		_, ok := typ.FieldByName(name)
		assert.True(t, ok, "shapers names %s, which Config does not have", name)
	}
}

// A shaper beside its model does not hide the model.
func TestConfigIsPerfectWithShapers(t *testing.T) {
	assert.False(t, Config{Jitter: time.Millisecond, Distribution: Normal}.IsPerfect())
	assert.False(t, Config{Rate: 1e6, Burst: 1500}.IsPerfect())
	assert.False(t, Config{Rules: []RuleFunc{func(time.Time, *Packet) Action { return Pass }}}.IsPerfect())
}
