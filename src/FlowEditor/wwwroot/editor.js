// Small browser helpers the editor calls through JS interop.
window.flowEditor = {
  copyText: async (text) => { try { await navigator.clipboard.writeText(text); return true; } catch { return false; } },
  readText: async () => { try { return await navigator.clipboard.readText(); } catch { return null; } },
  download: (name, text) => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  },
  focus: (element) => element && element.focus(),
};
