() => {
  // Presentation mode from the link (?present=1) before anything draws. The step control's keys (← → Home End
  // 1-9 P F) are handled by the step control itself (stepper.js).
  if (new URLSearchParams(location.search).get('present') === '1') document.body.classList.add('present');
}
