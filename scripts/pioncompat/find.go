package main

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// pionVnet is the import path whose users the suite runs.
const pionVnet = "github.com/pion/transport/v5/vnet"

// A vnetTest is one Test function that uses package vnet, directly or through
// helpers declared in the test files of its package.
type vnetTest struct {
	Dir      string // package directory, relative to the module root ("." for the root)
	Package  string // package clause of the file that declares the test (p or p_test)
	Name     string // TestXxx
	Direct   bool   // the test's own body names package vnet
	Via      string // when not direct: the first helper on the path to a use
	FileName string // base name of the declaring file
}

// node is a top-level declaration of a package's test files: a function,
// a method (keyed "method NAME", matched by name at call sites, since the
// receiver's type is not known without type checking), a type or a var.
type node struct {
	key    string
	direct bool     // names package vnet
	refs   []string // keys of other nodes it mentions
	file   string
	pkg    string
	isTest bool
}

// findVnetTests returns, for the Go package in dir (test files only), every
// TestXxx(t *testing.T) that reaches package vnet: its body names the
// package vnet import, or it mentions (calls, references) a function, method,
// type or variable declared in the package's test files that does, at any
// depth. Identifiers are resolved with the parser's scopes, so a local
// variable called vnet is not package vnet.
func findVnetTests(moduleDir, dir string) ([]vnetTest, error) {
	fset := token.NewFileSet()
	abs := filepath.Join(moduleDir, dir)
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, err
	}
	nodes := map[string]*node{}
	var order []string
	methods := map[string][]string{} // receiver type -> its method keys
	add := func(n *node) {
		if old, ok := nodes[n.key]; ok {
			// Methods of one name on several types merge: a call site
			// cannot tell them apart without types.
			old.direct = old.direct || n.direct
			old.refs = append(old.refs, n.refs...)
			return
		}
		nodes[n.key] = n
		order = append(order, n.key)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, "_test.go") {
			continue
		}
		if ok, err := build.Default.MatchFile(abs, name); err != nil || !ok {
			continue // excluded by a build constraint on this platform
		}
		f, err := parser.ParseFile(fset, filepath.Join(abs, name), nil, 0)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
		}
		vnetName := ""
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p != pionVnet {
				continue
			}
			vnetName = "vnet"
			if imp.Name != nil {
				vnetName = imp.Name.Name
			}
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				key := d.Name.Name
				if d.Recv != nil {
					recv := recvType(d.Recv.List[0].Type)
					key = "method " + recv + "." + key
					methods[recv] = append(methods[recv], key)
				}
				n := &node{key: key, file: name, pkg: f.Name.Name}
				n.isTest = d.Recv == nil && isTestFunc(d)
				scan(d, vnetName, n)
				add(n)
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						n := &node{key: s.Name.Name, file: name, pkg: f.Name.Name}
						scan(s, vnetName, n)
						add(n)
					case *ast.ValueSpec:
						for _, id := range s.Names {
							n := &node{key: id.Name, file: name, pkg: f.Name.Name}
							scan(s, vnetName, n)
							add(n)
						}
					}
				}
			}
		}
	}
	// A value of a type brings its methods: a test reaches a method through
	// the type (a constructor's result, a literal, a declaration).
	for typ, ms := range methods {
		if n, ok := nodes[typ]; ok {
			n.refs = append(n.refs, ms...)
		}
	}
	var tests []vnetTest
	for _, key := range order {
		n := nodes[key]
		if !n.isTest {
			continue
		}
		via, ok := reaches(nodes, n)
		if !ok {
			continue
		}
		tests = append(tests, vnetTest{Dir: dir, Package: n.pkg, Name: n.key, Direct: n.direct, Via: via, FileName: n.file})
	}
	sort.Slice(tests, func(i, j int) bool { return tests[i].Name < tests[j].Name })
	return tests, nil
}

// reaches reports whether n uses package vnet, and through which of its
// direct references if not itself ("" when direct).
func reaches(nodes map[string]*node, n *node) (string, bool) {
	if n.direct {
		return "", true
	}
	seen := map[string]bool{n.key: true}
	for _, r := range n.refs {
		if reachesFrom(nodes, r, seen) {
			return r, true
		}
	}
	return "", false
}

func reachesFrom(nodes map[string]*node, key string, seen map[string]bool) bool {
	if seen[key] {
		return false
	}
	seen[key] = true
	n, ok := nodes[key]
	if !ok {
		return false
	}
	if n.direct {
		return true
	}
	for _, r := range n.refs {
		if reachesFrom(nodes, r, seen) {
			return true
		}
	}
	return false
}

// scan records in n whether root names package vnet (an unresolved
// identifier vnetName used as a selector's operand) and which package-level
// names it mentions.
func scan(root ast.Node, vnetName string, n *node) {
	ast.Inspect(root, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.SelectorExpr:
			// Imports are never resolved by the parser: an identifier
			// vnetName with an object is a local variable or parameter.
			if id, ok := x.X.(*ast.Ident); ok && vnetName != "" && id.Name == vnetName && id.Obj == nil {
				n.direct = true
			}
			// The selected name is a field, a method or a package
			// member, never a package-level name of this package.
			ast.Inspect(x.X, func(y ast.Node) bool {
				if _, ok := y.(*ast.SelectorExpr); ok {
					scan(y, vnetName, n)
					return false
				}
				visitIdent(y, n)
				return true
			})
			return false
		default:
			visitIdent(x, n)
		}
		return true
	})
}

func visitIdent(x ast.Node, n *node) {
	if id, ok := x.(*ast.Ident); ok && packageLevel(id) {
		n.refs = append(n.refs, id.Name)
	}
}

// recvType returns the base type name of a method receiver (T for *T, T[P]).
func recvType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// packageLevel reports whether id refers to a package-level name or an
// import: the parser left it unresolved (declared in another file, an
// import, a universe name) or resolved it to a top-level declaration.
func packageLevel(id *ast.Ident) bool {
	if id.Obj == nil {
		return true
	}
	switch id.Obj.Decl.(type) {
	case *ast.FuncDecl, *ast.TypeSpec, *ast.ValueSpec:
		// Type and value specs may also be local declarations shadowing a
		// package-level name; counting them as references only widens the
		// search, and a local declaration named like a helper is rare.
		return true
	}
	return false
}

// isTestFunc reports whether d is func TestXxx(t *testing.T).
func isTestFunc(d *ast.FuncDecl) bool {
	name := d.Name.Name
	if !strings.HasPrefix(name, "Test") || name == "TestMain" {
		return false
	}
	if rest := name[len("Test"):]; rest != "" {
		if r := rest[0]; r >= 'a' && r <= 'z' {
			return false
		}
	}
	ps := d.Type.Params.List
	if len(ps) != 1 || len(ps[0].Names) > 1 {
		return false
	}
	star, ok := ps[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}
