// A refused form: move the focus (and the view) to the first input marked invalid, or to the
// list of problems when no input is (e.g. a message about the whole form), so nobody has to
// hunt for the message below the fold.
(function () {
  'use strict';
  function focusProblem() {
    var target = document.querySelector('[aria-invalid="true"]') ||
      document.querySelector('.error[role="alert"][tabindex]');
    if (!target) { return; }
    target.focus({preventScroll: true});
    target.scrollIntoView({block: 'center'});
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', focusProblem);
  } else {
    focusProblem();
  }
}());
