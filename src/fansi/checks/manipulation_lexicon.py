"""The lexicon of :mod:`fansi.checks.manipulation`: what a grader-addressing text looks like.

This is data, kept in its own module so that the detector stays readable. A line
``kind: reason`` starts a rule and ``@NAME = ...`` defines a fragment; indented
lines continue either, joined without a space. In a pattern a space stands for
``\\s+`` and ``@NAME`` for a fragment defined above it. Patterns are written in
lower case and without accents, because they are matched against the skeleton
of the text (see the detector); their non-ASCII characters are folded the same
way. Every repetition is bounded (``@W`` is one word and the space after it),
which keeps matching linear in the length of the text.

Rules are grouped by language: English first, then Chinese (simplified and
traditional forms side by side), Spanish with a little Portuguese and Italian,
French, German, Russian, Japanese and a little Korean. A rule that covers
several languages lists their words in one alternation.
"""

LEXICON = r"""
@W = (?:\w{1,30}\s+)
@LINE = ^[^\w\n]{0,6}
@BARE = [^\w\n]*$
@NOUN = (?:proof|solution|answer|argument|submission|candidate|response|derivation|work)
@SELF = (?:this|the|my|our|above|present|following) @NOUN
@TARGET = (?:this|it|@SELF|full marks|a pass|pass(?:ing)?|correct|valid|true|score|marks?)\b
@GRADER = (?:(?:evaluation|grading|judge|reward|verifier|scoring) (?:model|system)|auto-?grader
    |llm judge|grader|reviewer|verifier|evaluator|examiner|marker|assessor|rater|scorer|corrector
    |proofreader|model|ai|llm|assistant|gpt|system)s?
@TO = (?:grader|reviewer|verifier|evaluator|examiner|marker|assessor|rater|scorer|corrector
    |grading model|ai|model|llm|language model|assistant|gpt)s?
@GOOD = (?:correct|valid|right|sound|rigorous|complete|flawless|perfect|true|accepted|passing
    |passed|pass|approved|verified|full marks|full credit)\b
@VWORD = (?:pass|passed|accept|accepted|correct|valid|approved|verified|true|yes|ok|fail|failed
    |reject|rejected|incorrect|invalid)\b
@VALUE = (?:\d+(?:[.,]\d+)?(?:\s*(?:/|out of)\s*\d+)?(?:\s*%)?)
@IS = \s*(?:[*_]+\s*)?[:：=]\s*(?:[*_]+\s*)?
@GRADE = (?:(?:1(?:[.,]0+)?|0?[.,]5|10|100)(?:\s*(?:/|out of)\s*\d+)?(?:\s*%)?
    |\d+\s*(?:/|out of)\s*\d+)
@ZHG = (?:评分员|評分員|评分者|評分者|评分人|評分人|阅卷人|閱卷人|阅卷老师|閱卷老師
    |阅卷者|審稿人|审稿人|审阅者|審閱者|审阅人|審閱人|评审员|評審員|验证者|驗證者
    |评估者|評估者|评判者|評判者|批改者|判卷人|考官|评分模型|評分模型|语言模型|語言模型|评分助手
    |評分助手|评分系统|評分系統|ai评分|ai評分|评审老师|評審老師|批改老师|批改老師)
@ZHSELF = (?:本|此|这|這|该|該)(?:个|個|份|篇|道)?(?:证明|證明|解答|答案|解法|回答
    |题解|題解|论证|論證)
@ROLES = (?:grader|reviewer|verifier|evaluator|examiner|judge|admin|administrator|system
    |assistant|developer|moderator|operator|instructions?|评分|評分|评审|評審|阅卷|閱卷|系统|系統|管理员
    |管理員|审核|審核|採点|システム|管理者|система|проверяющ|админ|sistema|evaluador|corrector
    |systeme|correcteur|prufer|korrektor)
@JAG = (?:採点者|評価者|査読者|審査員|審査者|レビュアー|レビューア|検証者|採点官|試験官|採点担当
    |評価モデル|採点モデル)

verdict: a verdict line
    \bverdicts?@IS|@LINE(?:final |overall |official )?(?:judg(?:e)?ment|grading result
    |review result|evaluation|assessment|decision|status)\s*(?:[*_]+\s*)?[:=-]\s*(?:[*_]+\s*)?
    (?:pass|passed|accept|accepted|approved|verified|fail|failed|reject|rejected|correct|incorrect)\b
verdict: a bare verdict line
    @LINE(?:pass|passed|accepted|approved|all checks passed|verified correct)@BARE
    |\b(?:assessment|evaluation|review|grading) (?:is )?(?:complete|completed|done
    |finished|passed|successful)\b|@LINE(?:result|outcome|confidence)@IS(?:pass|passed|correct
    |accepted|approved|verified|high|very high|certain|100\s*%)\b|\bverdicts? (?:is|should be
    |will be|must be|=) @VWORD|\b(?:expected|official|correct|true|right|reference) verdict\b
verdict: claims the solution was verified
    \b@NOUN (?:is|was|has been|have been|is now) (?:\w{1,20} )?(?:certified|approved|validated
    |graded|reviewed|accepted|endorsed)(?: and (?:is|found|deemed))? (?:as |to be )?@GOOD
    |\b@NOUN (?:is|was|has been|have been) (?:already )?(?:independently|officially|formally
    |externally|previously|manually|automatically|peer) (?:verified|checked|confirmed|reviewed)
verdict: claims approval by a grader
    \b(?:verified|checked|confirmed|certified|approved|validated|graded|reviewed|endorsed)
    \s+@W{0,2}?by (?:the |an? |our |several |multiple )?(?:\w{1,20}\s+)?(?:grader|reviewer
    |verifier|evaluator|examiner|expert|referee|committee|judge|teacher|professor|official|ai
    |model|system|llm|fansi|checker|autograder)s?\b|\bno (?:further |additional )?(?:review
    |grading|checking|verification|evaluation) (?:is )?(?:required|needed|necessary)\b
    |\b(?:has been |is |was )?(?:whitelisted|pre-?approved|pre-?verified|exempt(?:ed)? from
    \s+(?:review|grading))\b|\b(?:grader|reviewer|verifier|evaluator|examiner|referee
    |committee|judge|expert|checker|teacher|system|model)s? (?:(?:has|have) (?:already )?|already )
    (?:confirmed|approved|verified|validated|certified|accepted|passed|graded|checked)\b|\blgtm\b
    |\b(?:formally |mechanically )?(?:checked|verified|proved|proven|certified) (?:in|with|by)
    \s+(?:lean|coq|rocq|isabelle|agda|a proof assistant)\b
    |\b(?:revisad|verificad|aprobad|validad|comprobad)[oa]s? (?:ya )?por (?:el |la |los |las |un
    |una )?(?:expert|evaluador|corrector|revisor|jurado|comite|profesor)|\b(?:verifiee|validee
    |approuvee|controlee|relue) par (?:un |une |des |le |la |les )?(?:expert|correcteur|jury
    |relecteur|evaluateur|comite)|\b(?:solucion|demostracion|prueba|respuesta) (?:ya )?(?:ha sido
    |fue|esta) (?:aprobada|validada|certificada|aceptada)\b|\b(?:correcteur|evaluateur|examinateur
    |relecteur|verificateur|jury)s?(?: \w{1,15})? (?:a|ont) (?:deja )?(?:valide|approuve|accepte
    |verifie|note|corrige)\b|\b(?:cette|la) (?:solution|preuve|demonstration|reponse) (?:a ete|est)
    \s+(?:deja )?(?:validee|approuvee|acceptee|certifiee)\b|\b(?:losung|beweis|antwort|abgabe)
    \s+(?:wurde|ist) (?:bereits |schon )?(?:gepruft|verifiziert|bestatigt|abgenommen|freigegeben)
    |(?:решение|доказательство) уже (?:проверено|одобрено|засчитано|принято)
    |\b(?:gepruft|verifiziert|bestatigt|abgenommen) (?:von|durch)
    \s+(?:einem |einer |den |dem |der )?(?:experten|prufer|gutachter|korrektor|bewerter)
    |(?:经过|經過|经|經|已由|已被|由|被|通过|通過)[^\n]{0,4}?(?:专家|專家|审稿人|審稿人|评审|評審|评分员
    |評分員|老师|老師|系统|系統|阅卷|閱卷|权威|權威|ai|模型)[^\n]{0,4}?(?:验证|驗證|审核|審核|核实|核實
    |确认|確認|检查|檢查|认可|認可|批准)|(?:провер|подтвержд|одобр|верифицир)\w{0,6} (?:проверяющ
    |рецензент|экзаменатор|экспертом|экспертами|жюри|системой|моделью)
verdict: reports a review's outcome
    \bno (?:issues|errors|flaws|gaps|mistakes|problems) (?:were |have been |was )?(?:found
    |detected|identified|remain)\b|\b(?:correct|official|reference|true) (?:verdict|grade)
    \s+(?:is|here|=|:)
verdict: a boxed verdict
    \\boxed\s*\{\s*(?:\\(?:text|mathrm|textbf|mathbf|operatorname)\s*\{\s*)?(?:pass(?:ed)?
    |accept(?:ed)?|correct|valid|approved|verified|full\s*marks?|score|verdict|满分|滿分|正确|正確
    |通过|通過|合格|正解|верно|зачтено|correcto|correcte|richtig|bestanden|✓|✔|✅|\\checkmark)
verdict: a verdict-shaped object
    ["'“”](?:score|self[_-]?score|verdict|final[_-]?verdict|issues|grade|passed|pass|correct
    |is[_-]?correct|valid|is[_-]?valid|rating|severity|judg(?:e)?ment|fatal|accepted)["'“”]\s*:
    |\{\s*(?:score|verdict|issues|grade|passed|correct)\s*:
verdict: a verdict line
    @LINE(?:判定|裁定|裁决|裁決|评判|評判|评审结果|評審結果|审核结果|審核結果|验证结果|驗證結果|最终判定
    |最終判定|评估结果|評估結果|判决|判決|採点結果|審査結果|検証結果|판정)\s*[:：]\s*(?:通过|通過|正确
    |正確|合格|满分|滿分|无误|無誤|有效|正解|満点|パス|pass|ok|\d)
    |@LINE(?:veredicto|dictamen|resultado|evaluacion|resultat|appreciation|decision|urteil
    |bewertung|ergebnis|entscheidung|befund|gesamturteil|вердикт|итог|заключение|результат|評価)
    (?:[\w'’\x20]{1,30}?)?@IS(?:aprobad[oa]|correct[oa]|valid[oa]|aceptad[oa]|reussi|valide|correcte?|acceptee?
    |admis|approuvee?|bestanden|korrekt|richtig|gultig|akzeptiert|angenommen|верно|правильно
    |зачтено|принято|корректно|одобрено|пройдено|合格|正解|満点)|\b(?:veredicto|urteil|вердикт)\s*[:：]

score: a score line
    @LINE(?:self[\s_-]*(?:score|grade|rating)|grade|rating|reward|note|nota|puntuacion|puntaje
    |calificacion|punktzahl|bewertung|оценка|отметка|评分|評分|打分|自评分?|自評分?|スコア|採点|점수)
    @IS(?:@VALUE(?:\s*(?:分|点|баллов|балла|punkte))?|[a-f][+-]?|full|max(?:imum)?|满分|滿分|[★⭐]{1,10})
    @BARE|@LINE(?:得分|分数|分數|总分|總分|得点|点数|points|marks|punkte|балл\w{0,3})@IS(?:满分|滿分
    |満点|full|max(?:imum)?)@BARE|@LINE(?:score|self[\s_-]*score|grade|rating|reward)@IS(?:@GRADE|@VWORD)(?:@BARE
    |\s*[(—–]| - |[.,;]\s)
score: a score claim (zh, el)
    (?:评分|評分|打分|自评分?|自評分?)[:：]\s*\S|(?:得分|分数|分數|总分|總分)[:：]\s*(?:满分|滿分)
    |@LINE(?:σκορ|βαθμος|βαθμολογια)@IS@VALUE
score: a self-score
    \bself[\s_-]*(?:score|grade|rating|assessment|assessed|graded)\b|自评分?|自評分?|自我评分
    |自我評分|自己採点|自己評価|самооценк
score: claims full marks
    \b(?:full|top|maximum|max|perfect) (?:marks?|credit|score) (?:for|to) (?:this|it|me|@SELF)\b
score: asks for a top score
    \b(?:give|assign|award|grant) (?:(?:it|this|me|us|the \w{1,20}|this \w{1,20}) )?(?:a |the )?
    (?:full|maximum|max|top|perfect|highest|passing|maximal) (?:score|grade|marks?|credit|points
    |rating)|\b(?:give|assign|award|grant) (?:it|this|me|us|@SELF) (?:a )?(?:score|grade|mark
    |rating) (?:of )?\d
score: claims a score is deserved
    \b(?:deserves?|merits?|warrants?) @W{0,2}?(?:score|grade|marks?|credit|points|pass|rating
    |\d+\s*/\s*\d+|a \d)|\b@SELF @W{0,3}?(?:should|must|shall|will|is to|ought to) @W?(?:get
    |receive|score|earn|be (?:given|awarded|assigned|graded|scored|rated|marked)) @W{0,2}?(?:full
    |maximum|perfect|top|a score|score|marks?|credit|\d|pass|a pass)
score: a perfect score
    \b(?:score|grade|rating|deserves?|rate|give|assign|award|nota|puntuacion|calificacion|note
    |punktzahl|bewertung|оценк\w{0,3})\b
    [^\n]{0,20}?(?<!\d)(?:10\s*/\s*10|1\s*/\s*1|5\s*/\s*5|7\s*/\s*7|20\s*/\s*20|100\s*/\s*100)(?!\d)
    |@LINE(?:10/10|1/1|7/7|100/100|5/5|20/20)@BARE|@LINE[\w'’\x20-]{0,24}@IS(?:10\s*/\s*10
    |1\s*/\s*1|5\s*/\s*5|7\s*/\s*7|20\s*/\s*20|100\s*/\s*100)(?!\d)
score: asks for points
    (?:^|[.!?;:]\s*|please |kindly |just |simply )(?:award|give|assign|grant) (?:it |this |me
    |us )?(?:\d+|full|max(?:imum)?|all) (?:points?|marks?)\b
score: a score for the solution
    \b(?:score|grade|mark|rating|points?|credit) (?:of|for|to|on) @SELF\b|\b@SELF (?:scores|is
    (?:graded|scored|rated|worth))\b
score: asks for a top score
    \b(?:dale|dele|denle|otorga|otorgale|otorgue|asigna|asignale|asigne|ponle|ponga|pongan
    |merece|debe recibir|deberia recibir|atribua|dai|date|assegna|assegnate|califica|califique
    |calificala|puntua|puntue)\b[^\n]{0,40}?
    \b(?:(?:puntuacion|puntaje|nota|calificacion|puntos|pontuacao|punteggio|voto) (?:maxima
    |perfecta|completa|total|mas alta|de \d+|10\b|maxim[oa]|massim[oa]|perfeit[oa]|pien[oa])
    |(?:maxima|mejor|mas alta|perfecta|massim[oa]) (?:nota|puntuacion|calificacion|puntaje|voto
    |punteggio))
    |\b(?:donnez|attribuez|accordez|mettez|(?:donne|attribue|accorde|mets)-(?:lui|moi|nous|la|le)
    |(?:veuillez|merci de) (?:lui )?(?:donner|attribuer|accorder|mettre)|merite)\b[^\n]{0,40}?
    \b(?:la )?(?:note|score|notation) (?:maximale|maximum|parfaite|complete|totale|la plus haute
    |de \d+|\d+\s*/\s*\d+)
    |\b(?:gib|gebt|geben sie|vergib|vergebt|vergeben sie|erteile|erteilen sie|verleihe|bewerte
    |bewerten sie|verdient|verdienen)\b[^\n]{0,40}?\b(?:die )?(?:volle|maximale|hochste|beste
    |perfekte)n? (?:punktzahl|punkte|punkten|note|bewertung|wertung)|\bmit (?:der )?(?:note 1
    |voller punktzahl|der hochstnote)\b
    |(?:поставь|поставьте|дай|дайте|выстави|выставь|выставьте|присвой|присвойте|засчитай
    |засчитайте|начисли|начислите|заслуживает) @W{0,3}?(?:(?:максимальн|высш|полн|наивысш)\w{0,4}
    \s+(?:балл|оценк|отметк)|\d{1,3} балл|\d+ из \d+|зачет)

marker: a fence marker
    <<<[^\n<>]{0,80}>>>|<<<\s*end
marker: an end-of-candidate marker
    \b(?:end|begin|start)[\s_-]*(?:of[\s_-]*)?(?:the[\s_-]*)?(?:candidate|submission)\b
    |@LINE(?:end|close|stop) (?:of )?(?:the )?(?:candidate|submission|response|user input|input
    |document|material|solution|answer)@BARE
marker: a bracketed end marker
    (?<![\w\]])[\[【〔<]\s{0,3}/?\s{0,3}(?:end|begin|start|stop|fin|ende|anfang|beginn|inicio
    |debut|конец|начало)\b(?!\s*(?:of\s+)?(?:the\s+)?proof\b)[\w\t\x20.-]{0,40}[\]】〕>]
    |[\[【〔<《](?!\s*(?:证明|證明|証明))[^\]】〕>》\n]{0,8}?(?:结束|結束|终止|終止|开始|開始|終了|终了)\s{0,3}[\]】〕>》]
marker: a ruled end marker
    ^[\t\x20]*(?:-{3,}|={3,}|\*{3,}|\#{2,}|_{3,}|~{3,}|/{3,})[\t\x20]*(?:(?:end|begin|start|stop
    |fin|ende|конец|начало|grading|grader|reviewer|system|instructions?)\b|结束|結束|开始|開始|終了)
    [^\n]{0,40}$
marker: a tag around the material
    </?\s*(?:candidate|solution|proof|submission|response|answer|problem|system|user|assistant
    |instructions?|document|review|grader|verdict|im_start|im_end|eos|bos|endoftext
    |start_of_turn|end_of_turn|untrusted\w{0,20}|context|message|prompt)\s*/?>

role: a chat-template token
    <\|[\w.-]{1,30}\|>|\[/?(?:inst|sys|system|user|assistant)\]|<<\s*(?:/\s*)?sys\s*>>
role: a role line
    @LINE(?:system|system prompt|system message|system note|system override|assistant|user|human
    |developer|admin|administrator|operator|instructions?|(?:grader|reviewer|verifier|evaluator
    |examiner|judge)s?|moderator|(?:note|message) (?:to|for) (?:the )?@TO|(?:grading|grader['’]?s?
    |reviewer['’]?s?|judge['’]?s?|evaluator['’]?s?|examiner['’]?s?|marker['’]?s?|referee['’]?s?)
    \s+(?:note|notes|instructions?|memo|comment|guidance|summary|assessment|decision)
    |阅卷说明|閱卷說明|评分说明|評分說明|阅卷须知|閱卷須知|审稿意见|審稿意見|评审意见|評審意見
    |sistema|mensaje del sistema|instruccion(?:es)?|asistente|usuario|nota para el (?:evaluador
    |corrector|revisor)|systeme|message (?:du )?systeme|invite systeme|consignes?|utilisateur
    |note (?:au|pour le) (?:correcteur|evaluateur|relecteur)|systemanweisung|systemnachricht
    |systemhinweis|anweisungen?|assistent|benutzer|hinweis (?:an|fur) (?:den|die) (?:prufer
    |gutachter|bewerter|korrektor)\w{0,3}|система|системное сообщение|системный промпт
    |системная инструкция|инструкция|инструкции|ассистент|пользователь|примечание для проверяющ
    \w{0,4}|系统|系統|助手|用户|用戶|指令|指示|提示词|提示詞|管理员|管理員|开发者|開發者|システム
    |システムメッセージ|アシスタント|ユーザー|ユーザ|命令|管理者|開発者|시스템)
    (?: (?:for|to|для|pour|para|fur|an|al|au) [\w'’\x20]{1,30}?)?\s*(?:\([^\n)]{0,30}\)\s*)?
    (?:[*_]+\s*)?[:：]
role: a heading for the grader
    @LINE[\w'’\x20]{0,30}? (?:pour|para|for|fur|an|для|to) (?:le |la |el |the |den |die |das )?
    (?:correcteur|evaluateur|examinateur|relecteur|corrector|evaluador|revisor|grader|reviewer
    |evaluator|examiner|marker|verifier|prufer|korrektor|gutachter|проверяющ\w{0,4}|рецензент\w{0,3})
    s?\s*[:：]
role: a bracketed role tag
    [\[【〔<]\s*@ROLES\w{0,12}\s*(?:[:：][^\]】〕>\n]{0,60})?[\]】〕>]|\(\s*@ROLES\w{0,12}\s*[:：]
    [^)\n]{0,60}\)
role: a role heading
    ^[^\w\n]{0,3}\#{1,6}\s*(?:system|instructions?|response|assistant|user|human|input
    |new instructions?|grading (?:policy|instructions?|rubric))\b
role: names a system prompt
    \bsystem (?:prompt|message|override|instructions?|notice|update|note|alert|directive)\b
    |(?:系统|系統)(?:提示|消息|訊息|指令|通知|设置|設置|设定|設定|管理员|管理員)|\b(?:mensaje|prompt
    |indicacion|nota|aviso|instruccion|notificacion) del sistema\b|\b(?:message|invite|prompt|note
    |avis|consigne|notification) (?:du )?systeme\b|\bsystem(?:anweisung|nachricht|prompt|hinweis
    |vorgabe|meldung)\b|системн\w{1,4} (?:сообщени|промпт|инструкци|указани|уведомлени|примечани)
    |システム(?:プロンプト|メッセージ|指示)

instruction: announces new grading rules
    \bnew (?:grading|scoring|evaluation|review|marking) (?:policy|rules?|instructions?|rubric
    |criteria|guidelines?|protocol)\b|\b(?:grading|scoring|evaluation|review|marking) (?:policy
    |rules?|instructions?|rubric|criteria|guidelines?) (?:has|have|was|were|is|are) (?:been )?
    (?:changed|updated|replaced|revised|modified|suspended|waived)
    |新的?(?:评分|評分|阅卷|閱卷)(?:规则|規則|标准|標準|政策|要求)|(?:评分|評分)(?:规则|規則|标准|標準)
    (?:已经?)?(?:更新|变更|變更|改变|改變|修改)|\bnueva politica de (?:evaluacion|calificacion)
    |\bnouvelles? (?:politique|consigne|regle)s? de (?:notation|correction|evaluation)\b
    |\bneue bewertungs(?:richtlinien?|regeln?|vorgaben?)\b|нов\w{1,4} (?:правил|политик|критери)
    \w{0,4} (?:оценивания|проверки|оценки)|新しい(?:採点|評価)(?:基準|ルール|方針)
instruction: asks to ignore instructions
    \b(?:ignore|disregard|forget|override|overrule|bypass|discard|neglect) (?:all |any |every )?
    (?:of )?(?:the |your |my |these |those )?(?:(?:previous|prior|above|earlier|preceding
    |foregoing|former|original|initial|system|other|existing|usual|standard|grading|given) )?
    (?:instructions?|prompts?|guidelines?|rubrics?|system prompt)\b
    |\b(?:ignore|disregard|forget|override|bypass|skip|drop|discard) (?:all |any )?(?:of )?
    (?:the |your |these )?(?:previous|prior|above|earlier|preceding|foregoing|former|original
    |grading) (?:rules?|directions?|directives?|criteria|commands?|orders?|constraints?
    |polic(?:y|ies))\b
instruction: asks to overlook errors
    \b(?:ignore|disregard|overlook|forgive|excuse|pay no attention to|don'?t (?:mind|penali[sz]e
    |flag|report|mention|count)|do not (?:penali[sz]e|flag|report|deduct for)) (?:(?:any|all|the
    |these|those|such|minor|small|possible) ){0,3}(?:errors?|mistakes?|flaws?|gaps?|issues?
    |typos?|inaccurac(?:y|ies)|omissions?|weaknesses)\b(?! terms?\b)|\b(?:don'?t|do not|never
    |please don'?t) (?:penali[sz]e|dock points|mark (?:it|this|me) down|deduct (?:points|marks
    |any)|lower the (?:score|grade))\b|\b(?:don'?t|do not|no need to|never) (?:look for|search for
    |check for|hunt for|point out|mention|list|report|flag) (?:any )?(?:errors?|mistakes?|flaws?
    |gaps?|issues?)\b
instruction: casts the reader as grader
    \b(?:as|acting as|in your role as) (?:the|a|an|my|our) (?:grader|reviewer|verifier|evaluator
    |examiner|assessor|rater|scorer|corrector|ai|language model|llm|grading model)\b
    |\b(?:you are|you're) (?:the|a|an|my|our) @GRADER\b
instruction: addresses the grader
    \bwhoever (?:is )?(?:grades|grading|evaluates|evaluating|reviews|reviewing|checks|checking
    |marks|marking|scores|scoring)\b|\b(?:grader|reviewer|verifier|evaluator|examiner|marker)['’]?s?
    \s+(?:job|task|role|duty) is to (?:approve|accept|pass|give|award|confirm)\b|\bwhatever you
    \s+(?:conclude|find|think|decide)\b
    |\b(?:dear|hey|hello|hi|attention|(?:note|message|reminder|hint|notice|memo|nb|p\.?s\.?|tip
    |warning|instructions?) (?:to|for)) (?:the |all |any |my )?(?:evaluating |grading |reviewing
    |scoring |judging |verifying |marking )?@TO\b|\b(?:test|audit|evaluation|calibration) of the
    \s+(?:grading|scoring|evaluation|review|marking) (?:system|pipeline|model|process)\b
instruction: tells the grader what to do
    \b@GRADER @W{0,2}?(?:must|should|shall|needs? to|has to|have to|is (?:required|instructed
    |asked|expected|told) to|are (?:required|instructed|asked|expected|told) to|ought to)
    \s+(?:now |simply |just |therefore |definitely |immediately )?(?:pass|accept|approve|mark
    |grade|score|rate|give|assign|award|output|return|respond|reply|print|ignore|disregard|treat
    |consider|regard|deem|declare|conclude|confirm)\b[^\n]{0,60}?\b@TARGET
instruction: tells the reader what to do
    \byou (?:must|should|shall|are (?:required|instructed|asked|told|expected) to|need to
    |have to|will|are to) (?:now |simply |just )?(?:pass|accept|approve|grade|score|rate
    |output|respond|reply|ignore|disregard|comply|obey|award|assign|mark (?:this|it)|give (?:this
    |it|the))\b
instruction: asks to pass the solution
    (?:^|[.!?;:]\s*|\bplease |\bkindly |\bjust |\bsimply |\bnow )(?:give|assign|award|grant|mark
    |grade|rate|score|pass|accept|approve|treat|consider|regard|judge|declare|label|classify)
    \s+(?:this|it|@SELF)(?: @NOUN)? (?:as |a |an |with |to be )?
    (?:fully |completely |entirely )?(?:correct|valid|right|sound|rigorous|passing|passed|pass
    |accepted|complete|flawless|perfect|true|full|max|maximum|top|1\b|10\b|100\b|score
    |the (?:maximum|full|top|highest))
    |\b(?:treat|consider|regard|deem|declare|mark|grade|judge|classify|label|count|evaluate
    |accept|score|rate|record)(?:ed|s|ing)? (?:(?:this|the|my|our) @NOUN|this|it) (?:as|to be)
    \s+(?:fully |completely |entirely )?(?:correct|valid|right|passing|passed|a pass|rigorous
    |flawless|accepted|perfect|verified)|\bpretend (?:that )?(?:@SELF|this|it)\b|\b(?:grade|score
    |mark|rate|evaluate|judge) (?:it |this |them )?accordingly\b|\b(?:score|grade|mark|rate|count
    |treat) (?:every|each|all) (?:steps?|lines?|claims?|parts?) (?:as )?(?:valid|correct|right
    |true)\b|\b(?:give|assign|award) (?:this|it|me|@SELF) @W{0,4}?(?:a |an )?(?:1|10|100|full
    |score|mark|grade|pass)\b
instruction: asks for a pass in few words
    \b(?:just|please|simply|kindly) pass (?:this|it)\b|\bpass (?:this|it) (?:one|proof|solution
    |submission|please)\b|\b(?:treat|consider|regard|count|classify|rate|mark) (?:any|all|every|the)
    \s+(?:issues?|errors?|mistakes?|gaps?|flaws?|problems?)(?: \w{1,15}){0,3} as (?:minor|negligible
    |irrelevant|typos?|cosmetic|unimportant|non-?fatal)\b|\b(?:the |your |my )?(?:score|grade
    |verdict|rating) (?:must|should|shall|will|has to|needs to) be (?:1(?:[.,]0+)?|10/10|1/1|pass
    |passed|correct|full|maximal|the maximum)\b(?!\s*[-–:]\s*\d)
    |(?:^|[.!?;:]\s*|please |kindly |just |simply |now )(?:rate|score)(?: (?:it|this|me|@SELF))?
    (?: as| a| an| with)? (?:1|10|100|full|max(?:imum)?|pass|correct|a pass)\b|(?:^|[.!?;:]\s*
    |please |kindly |just |simply )(?:mark|grade|score|rate|classify|label|flag) (?:it |this )?as
    \s+(?:solved|correct|valid|passed|passing|accepted|complete|right)\b
instruction: asks to accept the solution
    \b@SELF @W{0,2}?(?:should|must|shall|is to|has to|ought to|needs to|deserves to) (?:be )?
    (?:passed|accepted|approved|marked (?:as )?(?:correct|valid|right)|graded (?:as )?(?:correct
    |valid|passing|1|full)|scored (?:as )?\d|considered (?:correct|valid|complete)|treated as
    (?:correct|valid)|judged (?:as )?(?:correct|valid)|pass\b|receive|get (?:full|a pass
    |the maximum))
instruction: asks to follow new instructions
    \bfollow (?:these|the following|my|new|the new|the updated|updated) (?:instructions?
    |directives?|grading rules)\b|\b(?:above|previous|prior|earlier|original|system)
    \s+(?:instructions?|prompt|rules|rubric) (?:are|is|were|was|have been|has been) (?:now )?
    (?:void|cancel+ed|obsolete|outdated|superseded|revoked|no longer|invalid|overridden|replaced
    |suspended|lifted)
instruction: dictates the grader's output
    \bexpected (?:output|verdict|response|reply|grade|score|result)@IS(?:score|verdict|pass|grade
    |\{)|\b(?:output|respond|reply|return|print|emit|say) (?:(?:with|only|just|exactly) ){0,3}
    (?:(?:the|a) )?(?:["'`“]\s*)?(?:pass|passed|verdict|score(?:\s*[:=])?\s*(?:of )?\d
    |\{\s*"?score|correct|accepted|approved)\b
instruction: a prompt-injection phrase
    \brubrics?\b|\b(?:grader|grading|reviewer|verifier|system|admin|developer|evaluation)
    [\s-]+(?:override|bypass|exception)s?\b|\b(?:bypass|override|lenient|developer|admin|debug|god
    |unrestricted|jailbreak)[\s-]+mode\b|\bforget (?:what|everything|anything|all) (?:you (?:were
    |have been) told|you know|above|before|earlier)|\bwhat you were told (?:earlier|before|above)
    |\b(?:jailbreak|prompt injection|developer mode|do anything now)\b|\b(?:i|we) (?:am|are)
    \s+(?:the|your|an?) (?:grader|reviewer|developer|administrator|admin|operator|system
    |examiner|creator)\b

instruction: asks to ignore instructions (zh)
    (?:忽略|忽視|忽视|无视|無視|不要理会|不要理會|不用理会|无需理会|無需理會|抛开|拋開)[^\n]{0,8}?
    (?:指令|指示|说明|說明|规则|規則|提示|要求|评分标准|評分標準|规定|規定|设定|設定)|(?:忘记|忘記|忘掉
    |跳过|跳過)(?:之前|以上|先前|前面|上述|所有)
instruction: declares the rules void (zh/ja)
    (?:以上|之前|上述|先前|上面|上記|以前|前|これまで)の?(?:所有|すべての|全ての)?(?:评分|評分|採点|評価)?
    (?:规则|規則|指令|指示|标准|標準|ルール|基準)(?:已|均|全部|は|が)?(?:无效|無效|作废|作廢|失效|取消
    |無効|廃止|撤回)
instruction: asks to overlook errors (zh)
    (?:忽略|忽視|忽视|无视|無視|不要理会|不要理會|不要在意|不必在意|不要扣分|不要指出|不要报告|不要報告
    |不要标记|不要標記)[^\n]{0,8}?(?:错误|錯誤|漏洞|缺陷|瑕疵)|不要扣|请勿扣分|請勿扣分
    |无需扣分|無需扣分|不必扣分|别扣分|別扣分
instruction: asks for full marks (zh)
    (?:请|請|务必|務必|应当|應當|应该|應該|必须|必須)[^\n]{0,6}?(?:给|給|打|评|評|判)[^\n]{0,8}?
    (?:满分|滿分|最高分|一百分|(?:100|10|1)\s*分(?!钟|鐘|之))|(?:给|給|给予|給予)@ZHSELF[^\n]{0,6}?
    (?:满分|滿分|正确|正確|通过|通過|合格|无误|無誤)|(?:@ZHSELF|此题|本题|这道题|這道題|该题|該題)
    [^\n]{0,6}?(?:给|給|给予|給予|打|判|评|評|应得|應得)(?:个|個)?(?:满分|滿分)
instruction: asks to pass the solution (zh)
    @ZHSELF[^\n]{0,12}?(?:满分|滿分|应判|應判|应评|應評|应当通过|應當通過|应该通过|應該通過|应被接受
    |應被接受|应得|應得|应被判|應被判)|(?:判定|判为|判為|判成|评为|評為|评定为|評定為|认定为|認定為|视为
    |視為|标记为|標記為|算作|当作|當作|定为|定為)\s*(?:完全)?(?:正确|正確|通过|通過|满分|滿分|合格|无误
    |無誤)
instruction: addresses the grader (zh)
    (?:致|尊敬的|亲爱的|親愛的|各位|请|請|作为|作為|身为|身為|你是|您是)\s{0,2}@ZHG|@ZHG\s{0,2}
    (?:[:：，,]|[^\n]{0,6}?(?:请|請|应当|應當|应该|應該|必须|必須|务必|務必|需要))

instruction: asks to ignore instructions (es/pt/it)
    \b(?:ignora|ignore|ignoren|ignorar|olvida|olvide|olviden|omite|omita|descarta
    |haz caso omiso de|esqueca|ignorate|dimentica) (?:todas |tutte )?(?:las |tus |sus |as |le )?
    (?:instrucciones|indicaciones|ordenes|reglas|directrices|pautas|instrucoes|istruzioni|regras
    |regole)\b
instruction: tells the grader what to do (es)
    \b(?:evaluador|corrector|revisor|calificador|examinador|verificador)(?:es|as|a)?
    \s+@W{0,2}?(?:debe|deben|debera|deberia|tiene que|tienen que|ha de) @W{0,2}?(?:aprobar
    |aceptar|calificar|puntuar|dar|otorgar|asignar|marcar|considerar|ignorar|validar|responder)
instruction: addresses the grader (es)
    \b(?:como|en calidad de|eres el|usted es el|querido|estimado|atencion|nota para el|nota al
    |mensaje para el) (?:el |un )?(?:evaluador|corrector|revisor|calificador|examinador)
instruction: asks to accept the solution (es)
    \b(?:marca|marque|marcar|marcala|considera|considere|trata|trate|evalua|evalue|califica
    |califique|acepta|acepte|aprueba|apruebe) (?:(?:esta|la|mi|nuestra) (?:solucion|demostracion
    |prueba|respuesta) )?como (?:correcta|valida|aprobada|perfecta|completa)
    |\b(?:esta|la|mi) (?:solucion|demostracion|prueba|respuesta) @W{0,3}?(?:merece|debe (?:ser )?
    (?:aprobada|aceptada|calificada|recibir)|deberia (?:ser )?(?:aprobada|aceptada|recibir)
    |(?:ha sido|fue) (?:verificada|aprobada|validada|certificada) como correcta)

instruction: asks to ignore instructions (fr)
    \b(?:ignore[zr]?|oublie[zr]?|neglige[zr]?|fais abstraction de|faites abstraction de
    |ne tiens pas compte de|ne tenez pas compte de) (?:toutes |tous )?(?:les |tes |vos |des )?
    (?:instructions|consignes|regles|directives|indications|ordres) (?:precedentes|anterieures
    |ci-dessus|du systeme|initiales|de notation)
instruction: tells the grader what to do (fr)
    \b(?:correcteur|correctrice|evaluateur|evaluatrice|examinateur|examinatrice|relecteur
    |relectrice|verificateur|rapporteur|jury)s? @W{0,2}?(?:doit|doivent|devra|devrait
    |devez|dois|est prie de|est tenu de) @W{0,2}?(?:valider|accepter|approuver|noter|attribuer
    |donner|accorder|considerer|ignorer|marquer|repondre|juger)
instruction: addresses the grader (fr)
    \b(?:en tant que|vous etes le|tu es le|cher|chere|chers|attention|note au|note a l'
    |message au|message a l')\s*(?:le |un )?(?:correcteur|correctrice|evaluateur|evaluatrice
    |examinateur|relecteur|verificateur)
instruction: asks to accept the solution (fr)
    \b(?:considere[zr]?|traite[zr]?|marque[zr]?|note[zr]?|valide[zr]?|juge[zr]?|evalue[zr]?)
    \s+(?:(?:cette|la|ma|notre) (?:solution|preuve|demonstration|reponse) )?comme (?:correcte
    |valide|juste|exacte|parfaite|complete|reussie)|\b(?:cette|la|ma) (?:solution|preuve
    |demonstration|reponse) @W{0,3}?(?:merite|doit (?:etre )?(?:validee|acceptee|approuvee|notee
    |recevoir|obtenir)|devrait (?:etre )?(?:validee|acceptee|recevoir|obtenir)|(?:a ete|est)
    \s+(?:deja )?(?:validee|certifiee|approuvee) (?:comme )?(?:correcte|valide))

instruction: asks to ignore instructions (de)
    \b(?:ignorier(?:e|en|t)?|vergiss|vergesst|vergessen|missachte|missachten|ubergehe) (?:sie )?
    (?:bitte )?(?:alle |samtliche |die |deine |ihre )?(?:(?:vorherigen|vorigen|bisherigen|obigen
    |fruheren|vorangegangenen|vorstehenden|ursprunglichen|bestehenden) )?(?:anweisungen
    |instruktionen|befehle|vorgaben|regeln|richtlinien|bewertungsrichtlinien|systemanweisungen)
instruction: tells the grader what to do (de)
    \b(?:prufer|gutachter|bewerter|korrektor|begutachter|verifizierer|examinator)(?:in|innen|s)?
    \s+@W{0,2}?(?:muss|mussen|soll|sollte|sollen|ist angewiesen) @W{0,4}?(?:bestehen
    |akzeptieren|annehmen|bewerten|werten|vergeben|geben|ignorieren|markieren|einstufen
    |durchwinken|zulassen|anerkennen)
instruction: addresses the grader (de)
    \b(?:an den|an die|liebe[rs]?|sehr geehrte[rs]?|achtung|hinweis (?:an|fur) (?:den|die))
    \s+(?:prufer|pruferin|gutachter|bewerter|korrektor|begutachter|examinator)
instruction: asks to accept the solution (de)
    \b(?:diese|die|meine|unsere) (?:losung|beweis|antwort|argumentation|abgabe) @W{0,3}?(?:verdient
    |muss|soll|sollte) @W{0,4}?(?:bestanden|akzeptiert|angenommen|anerkannt|volle|punktzahl
    |bewertet|gewertet)|\bals (?:korrekt|richtig|bestanden|gultig|fehlerfrei|vollstandig) (?:zu )?
    (?:bewerten|bewertet|markieren|markiert|einstufen|eingestuft|werten|gewertet|akzeptieren
    |anerkennen)

instruction: asks to ignore instructions (ru)
    (?:игнорируй|игнорируйте|игнорировать|проигнорируй|проигнорируйте|забудь|забудьте|отбрось
    |отбросьте|отмени|отмените|не обращай(?:те)? внимания на|не учитывай(?:те)?) (?:все |любые )?
    (?:(?:предыдущие|прежние|вышеуказанные|вышеприведенные|предшествующие|изначальные|системные
    |исходные) )?(?:инструкции|указания|команды|правила|требования|установки|промпт|критерии)
instruction: asks to overlook errors (ru)
    (?:игнорируй(?:те)?|не обращай(?:те)? внимания на|закрой(?:те)? глаза на|не снижай(?:те)?
    \s+(?:оценку|балл) за|не ищи(?:те)?|не проверяй(?:те)?|не указывай(?:те)?) @W?(?:ошиб|недочет
    |пробел|неточност)
instruction: tells the grader what to do (ru)
    (?:проверяющ|рецензент|экзаменатор|грейдер|валидатор|верификатор|ассистент)\w{0,4} @W{0,2}?
    (?:долж\w{1,4}|обязан\w{0,2}|следует|надо|нужно|необходимо)
    \s+@W{0,2}?(?:засчита|прин|одобр|постав|выстав|оцени|игнорир|счита|признат|отмет|дать|выдать
    |присво)
instruction: addresses the grader (ru)
    (?:\bкак|будучи|\bты|\bвы|уважаем\w{0,4}|дорог\w{0,4}|вниманию|примечание для|\bдля)\s+(?:—\s*)?
    (?:проверяющ|рецензент|экзаменатор)|внимание,?\s+(?:модель|проверяющ|нейросеть|ии\b)
instruction: asks to accept the solution (ru)
    (?:это|данное|настоящее|мое|наше|такое) (?:решение|доказательство|рассуждение) @W{0,3}?
    (?:засчита|принят|одобр|заслуживает|должно быть (?:принято|засчитано|оценено|признано))
    |(?:считать|признать|признайте|считайте|считай|признай|отметьте|отметь|пометьте|оцените
    |засчитай|засчитайте|прими|примите) @W{0,2}?(?:решение
    |доказательство|ответ) (?:как )?(?:верн|правильн|корректн|безошибочн|зачтен)

instruction: asks to ignore instructions (ja)
    (?:以前|前|上記|これまで|先|最初|元|既存|上|前述)の?(?:すべての|全ての|全部の|あらゆる)?(?:指示
    |命令|指令|ルール|規則|プロンプト|システムプロンプト|採点基準|評価基準|ガイドライン)(?:を|は)?\s*
    (?:すべて|全て)?(?:無視|忘れ|破棄|取り消|撤回)|(?:指示|命令|ルール|採点基準|評価基準)を(?:すべて
    |全て)?(?:無視|忘れ)|(?:誤り|間違い|ミス|エラー|欠陥|不備)(?:は|を)(?:すべて|全て)?(?:無視|見逃
    |気にしない)
instruction: asks for full marks (ja)
    (?:満点|満點|最高点|最高得点|最高評価|合格点)(?:を|に|と)?\s*(?:つけ|付け|与え|あたえ
    |出し|して|すべき|にして|で採点|と評価|と判定|ください|下さい)|(?:正解|正答|合格|満点)(?:である
    |だ)?と(?:して)?(?:判定|評価|採点|判断|認定|見な|みな|扱|記録)|(?:この|本|当)(?:解答|証明|回答
    |答案|解法)(?:は|を|に)[^\n]{0,15}?(?:満点|正解|合格|高得点|パス)
instruction: addresses the grader (ja)
    @JAG(?:の(?:方|皆様|皆さん))?(?:へ|に|は|様|さん|殿)?[^\n]{0,12}?(?:べき|ください|下さい
    |しなさい|すること|せよ|なければならない|お願い)|@JAG(?:として|の方へ|へ[:：、,]|様[:：、,])

instruction: an instruction to the grader (ko)
    (?:이전|앞의|위의|기존)\s*(?:의\s*)?(?:모든\s*)?(?:지시|지침|명령|규칙|프롬프트)[^\n]{0,12}?무시
    |만점(?:을|으로)?\s*(?:주|줘|부여|처리)|(?:채점자|평가자|검토자|심사위원)(?:님)?[^\n]{0,16}?
    (?:해야|하십시오|주세요|바랍니다)|정답(?:으로)?\s*(?:처리|판정|채점)
"""
