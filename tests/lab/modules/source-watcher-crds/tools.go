//go:build tools

// The API types whose CRD controller-gen generates; imported so the module keeps them in its build list.
package tools

import _ "github.com/fluxcd/source-watcher/api/v2/v1beta1"
