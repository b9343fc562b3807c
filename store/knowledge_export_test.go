package store

// SetRankBudgets sets how many matching chunks a lexical search ranks at
// most on each dialect, until the returned function restores them.
func SetRankBudgets(sqlite, postgres int) (restore func()) {
	s, p := sqliteRankBudget, postgresRankBudget
	sqliteRankBudget, postgresRankBudget = sqlite, postgres
	return func() { sqliteRankBudget, postgresRankBudget = s, p }
}
