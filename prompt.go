package hyponema

import (
	"regexp"
	"slices"
	"strings"
)

var (
	variableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	templateVar  = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}`)
)

// TemplateVariables returns the names of the {{variables}} used in texts,
// sorted and without repeats.
func TemplateVariables(texts ...string) []string {
	var names []string
	for _, t := range texts {
		for _, m := range templateVar.FindAllStringSubmatch(t, -1) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// RenderTemplate replaces each {{name}} in s with vars[name]; names without
// a value stay as written.
func RenderTemplate(s string, vars map[string]string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return templateVar.ReplaceAllStringFunc(s, func(m string) string {
		name := templateVar.FindStringSubmatch(m)[1]
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// ResolveVariables merges an agent version's variable defaults with the
// session's own values, and checks that every {{variable}} that the
// version's prompts use has a value. A missing one is EINVALID at
// body.variables.<name>, so that session creation names it.
func ResolveVariables(v *AgentVersion, persona *PersonaVersion, session map[string]string) (map[string]string, error) {
	vars := make(map[string]string, len(v.Config.VariableDefaults)+len(session))
	for k, val := range v.Config.VariableDefaults {
		vars[k] = val
	}
	for k, val := range session {
		vars[k] = val
	}
	texts := []string{v.Config.Instructions, v.Config.FirstMessage}
	if persona != nil {
		texts = append(texts, persona.Config.Instructions)
	}
	var val Validation
	for _, name := range TemplateVariables(texts...) {
		if _, ok := vars[name]; !ok {
			val.Add("missing", "the agent's prompt uses {{"+name+"}}: set it here or give it a default in the agent's variable_defaults", "variables", name)
		}
	}
	return vars, val.Err()
}

// SystemPrompt renders the system prompt of a session: the persona's voice
// first, then the agent's instructions, with variables substituted.
func SystemPrompt(v *AgentVersion, persona *PersonaVersion, vars map[string]string) string {
	var parts []string
	if persona != nil && strings.TrimSpace(persona.Config.Instructions) != "" {
		parts = append(parts, RenderTemplate(persona.Config.Instructions, vars))
	}
	if strings.TrimSpace(v.Config.Instructions) != "" {
		parts = append(parts, RenderTemplate(v.Config.Instructions, vars))
	}
	return strings.Join(parts, "\n\n")
}

// EstimateTokens is a cheap, provider-neutral estimate of how many tokens a
// text takes: about four bytes a token for English, never zero for text.
// The history budget uses it; exact counts come back in Usage.
func EstimateTokens(s string) int {
	if s == "" {
		return 0
	}
	return len(s)/4 + 1
}
