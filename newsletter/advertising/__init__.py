"""Korean advertising law (정보통신망법 제50조): ``ad: true`` issues, their subject, footer,
check, and the consent notices (docs/advertising.md)."""
