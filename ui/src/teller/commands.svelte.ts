// The teller's commands as the console runs them: one at a time (a double click sends once),
// a rejection shown by its code (the technician message is never shown), cleared by the next
// step or by the teller.

export class Commands {
  pending = $state(false);
  error = $state.raw<unknown>(null);

  async run(command: () => Promise<unknown>): Promise<boolean> {
    if (this.pending) return false;
    this.pending = true;
    this.error = null;
    try {
      await command();
      return true;
    } catch (e) {
      this.error = e;
      return false;
    } finally {
      this.pending = false;
    }
  }

  clear(): void {
    this.error = null;
  }
}
