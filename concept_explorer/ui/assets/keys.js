() => {
  // Keyboard: ← → step one checkpoint, space plays or pauses.
  // Keys typed into text fields, number boxes and dropdowns are left alone; a focused range slider moves natively.
  const click = (id) => { const el = document.getElementById(id); if (el) el.click(); };
  document.addEventListener('keydown', (event) => {
    const target = event.target;
    const tag = (target.tagName || '').toLowerCase();
    if (event.altKey || event.ctrlKey || event.metaKey || target.isContentEditable) return;
    if (tag === 'textarea' || tag === 'select' || (tag === 'input')) return;
    if (event.key === 'ArrowLeft') { click('step-prev'); event.preventDefault(); }
    else if (event.key === 'ArrowRight') { click('step-next'); event.preventDefault(); }
    else if (event.key === ' ' && tag !== 'button') { click('play-btn'); event.preventDefault(); }
  });
  if (new URLSearchParams(location.search).get('present') === '1') document.body.classList.add('present');
}
