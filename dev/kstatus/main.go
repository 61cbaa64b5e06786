// Command kstatus prints kstatus' verdict (Current, InProgress, Failed, ...) for each object
// of a JSON list read from standard input, in order.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	// apimachinery's decoder keeps integers int64, as kstatus' accessors expect.
	input, err := io.ReadAll(os.Stdin)
	var objects []map[string]interface{}
	if err == nil {
		err = utiljson.Unmarshal(input, &objects)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := []map[string]string{}
	for _, o := range objects {
		r, err := status.Compute(&unstructured.Unstructured{Object: o})
		if err != nil {
			out = append(out, map[string]string{"status": "Error", "message": err.Error()})
			continue
		}
		out = append(out, map[string]string{"status": string(r.Status), "message": r.Message})
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
