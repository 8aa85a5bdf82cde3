package datamap

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// keyLines returns the line of every key of a TOML document that decoded
// without error, by path: "dataset[0]" (the table's header),
// "dataset[0].name", "dataset[0].composite[1].parts[0].type". go-toml's
// decoder gives positions for its own errors; this gives them to the
// map's checks.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	counts := map[string]int{} // array table path -> tables so far
	var p unstable.Parser
	p.Reset(data)
	prefix := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.ArrayTable, unstable.Table:
			var keys []string
			line := 0
			it := e.Key()
			for it.Next() {
				n := it.Node()
				keys = append(keys, string(n.Data))
				line = p.Shape(n.Raw).Start.Line
			}
			path := ""
			for i, k := range keys {
				if path != "" {
					path += "."
				}
				path += k
				if n, ok := counts[path]; ok && i < len(keys)-1 {
					path = fmt.Sprintf("%s[%d]", path, n-1) // the current table of an enclosing array
				}
			}
			if e.Kind == unstable.ArrayTable {
				i := counts[path]
				counts[path] = i + 1
				path = fmt.Sprintf("%s[%d]", path, i)
			}
			prefix = path
			lines[path] = line
		case unstable.KeyValue:
			keyValue(&p, e, prefix, lines)
		}
	}
	return lines
}

// keyValue records the lines of a key/value expression below prefix, and
// of the inline tables of its value.
func keyValue(p *unstable.Parser, e *unstable.Node, prefix string, lines map[string]int) {
	var parts []string
	line := 0
	it := e.Key()
	for it.Next() {
		n := it.Node()
		parts = append(parts, string(n.Data))
		line = p.Shape(n.Raw).Start.Line
	}
	path := strings.Join(parts, ".")
	if prefix != "" {
		path = prefix + "." + path
	}
	lines[path] = line
	v := e.Value()
	if v.Kind != unstable.Array {
		return
	}
	elems := v.Children()
	for i := 0; elems.Next(); i++ {
		el := elems.Node()
		ep := fmt.Sprintf("%s[%d]", path, i)
		if l := p.Shape(el.Raw).Start.Line; l > 0 {
			lines[ep] = l
		}
		if el.Kind != unstable.InlineTable {
			continue
		}
		kvs := el.Children()
		for kvs.Next() {
			keyValue(p, kvs.Node(), ep, lines)
		}
	}
}
