package audit

// Syncs returns how many times w synced its journal.
func Syncs(w *Writer) int {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	return w.syncs
}
