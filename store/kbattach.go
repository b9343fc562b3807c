package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/hyponema/hyponema"
)

var _ hyponema.KnowledgeAttacher = (*AgentService)(nil)

// AttachKnowledgeBase implements hyponema.KnowledgeAttacher.
func (s *AgentService) AttachKnowledgeBase(ctx context.Context, workspaceID, kbID, agentID string) (*hyponema.Agent, error) {
	return s.editKnowledge(ctx, workspaceID, kbID, agentID, true)
}

// DetachKnowledgeBase implements hyponema.KnowledgeAttacher.
func (s *AgentService) DetachKnowledgeBase(ctx context.Context, workspaceID, kbID, agentID string) (*hyponema.Agent, error) {
	return s.editKnowledge(ctx, workspaceID, kbID, agentID, false)
}

// editKnowledge adds kbID to, or removes it from, the draft's list, under
// the agent's row lock (concurrent edits apply one after the other).
func (s *AgentService) editKnowledge(ctx context.Context, workspaceID, kbID, agentID string, attach bool) (*hyponema.Agent, error) {
	var a *hyponema.Agent
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		if a, err = findAgent(ctx, tx, workspaceID, agentID, s.db.d.forUpdate); err != nil {
			return err
		}
		var one int
		err = tx.queryRow(ctx, `SELECT 1 FROM knowledge_bases WHERE workspace_id = ? AND id = ?`+s.db.d.forShare, workspaceID, kbID).Scan(&one)
		if isNoRows(err) {
			return hyponema.Errorf(hyponema.ENOTFOUND, "knowledge base not found")
		} else if err != nil {
			return fmt.Errorf("store: find knowledge base: %w", err)
		}
		ids := slices.Clone(a.KnowledgeBaseIDs)
		has := slices.Contains(ids, kbID)
		switch {
		case attach && has:
			return nil
		case attach:
			if len(ids) >= hyponema.MaxKnowledgeBasesPerAgent {
				var v hyponema.Validation
				v.Add("too_long", fmt.Sprintf("an agent may have at most %d knowledge bases", hyponema.MaxKnowledgeBasesPerAgent), "agent_id")
				return v.Err()
			}
			ids = append(ids, kbID)
		case !has:
			return hyponema.Errorf(hyponema.ENOTFOUND, "the knowledge base is not attached to the agent")
		default:
			ids = slices.DeleteFunc(ids, func(id string) bool { return id == kbID })
		}
		a.KnowledgeBaseIDs = ids
		cfg, err := encodeJSON(a.AgentConfig)
		if err != nil {
			return err
		}
		a.UpdatedAt = now()
		if _, err := tx.exec(ctx, `UPDATE agents SET config = ?, updated_at = ? WHERE id = ?`, cfg, s.db.d.timeArg(a.UpdatedAt), a.ID); err != nil {
			return fmt.Errorf("store: update agent: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}
