"""Every word the web pages say, in Japanese (the default) and English.

One catalog: each key holds both languages side by side, so a label cannot
exist in one language only. The register's own words (its headings, the
category and status labels) and the Japanese stage labels come from where they
already live (``ringi.register.render.WORDS``, ``Stage.label_ja``) and are not
repeated here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..domain.cost import CostBearer
from ..domain.lifecycle import shown
from ..domain.vocabulary import Category, CloseReason, Role, Stage
from ..register.document import Status
from ..register.render import LANGS, WORDS, Lang

DEFAULT_LANG: Lang = "ja"
__all__ = ["DEFAULT_LANG", "LANGS", "Lang", "Translator", "parse_lang"]

_CATALOG: dict[str, tuple[str, str]] = {
    # --- frame ---------------------------------------------------------------
    "app": ("ringi 要望管理", "ringi requests"),
    "skip": ("本文へ移動", "Skip to content"),
    "nav.register": ("要望一覧 (資料2)", "Register (Document 2)"),
    "nav.file": ("新規登録", "File a request"),
    "nav.audit": ("監査", "Audit"),
    "nav.signout": ("サインアウト", "Sign out"),
    "nav.signed_in_as": ("{who} としてサインイン中", "Signed in as {who}"),
    "nav.language": ("English", "日本語"),
    "nav.language_label": ("表示言語", "Language"),
    "role.member": ("会員", "member"),
    "role.secretariat": ("事務局", "secretariat"),
    "role.auditor": ("監査人", "auditor"),
    "role.timer": ("タイマー", "timer"),
    # --- signing in ----------------------------------------------------------
    "signin.title": ("サインイン", "Sign in"),
    "signin.token": ("トークン", "Token"),
    "signin.hint": (
        "`ringi token issue` で発行されたトークンを入力してください。",
        "Enter a token issued with `ringi token issue`.",
    ),
    "signin.submit": ("サインイン", "Sign in"),
    "signin.bad": (
        "このトークンではサインインできません: {reason}",
        "This token does not sign in: {reason}",
    ),
    "signin.expired": (
        "サインインが無効になりました (トークンの失効または期限切れ)。もう一度サインインしてください。",
        "Your sign-in is no longer valid (the token was revoked or the session expired). Sign in again.",
    ),
    "signin.signed_out": ("サインアウトしました。", "You are signed out."),
    # --- errors --------------------------------------------------------------
    "error.title": ("エラー", "Error"),
    "error.csrf": (
        "フォームの確認用トークン (CSRF) がないか、一致しません。ページを開き直してから送信してください。",
        "The form's check token (CSRF) is missing or does not match. Reload the page and send it again.",
    ),
    "error.origin": (
        "このフォームは別のサイトから送信されたため受け付けません。",
        "This form was sent from another site and is refused.",
    ),
    "error.forbidden": ("この操作はできません: {reason}", "You may not do this: {reason}"),
    "error.forbidden_role": (
        "この操作は{roles}だけが行えます (あなたは{role}です)。",
        "Only the {roles} may do this (you are signed in as {role}).",
    ),
    "error.not_found": ("見つかりません: {reason}", "Not found: {reason}"),
    "error.rate": (
        "短時間に操作が多すぎます。{seconds}秒後にもう一度お試しください。",
        "Too many actions in a short time. Try again in {seconds} s.",
    ),
    "error.unavailable": (
        "ワークフローサーバーが応答しません。しばらくしてからもう一度お試しください。",
        "The workflow server did not answer. Try again shortly.",
    ),
    "error.back": ("戻る", "Back"),
    "refusal.title": ("受け付けられませんでした", "Refused"),
    "refusal.framing": (
        "この操作はライフサイクルの規則により受け付けられませんでした。理由: {reason}",
        "The lifecycle's rules refused this action. Reason: {reason}",
    ),
    "form.invalid": (
        "入力に誤りがあります。各項目の説明を確認してください。",
        "Some fields need attention; see the notes next to them.",
    ),
    "form.required": ("必須", "required"),
    "form.optional": ("任意", "optional"),
    "form.err.missing": ("入力してください。", "Fill this in."),
    "form.err.too_long": ("{limit}文字以内で入力してください。", "Use at most {limit} characters."),
    "form.err.choice": ("一覧から選んでください。", "Choose one of the options."),
    "form.err.number": ("0以上の数値を入力してください。", "Enter a number, 0 or more."),
    "form.err.date": ("YYYY-MM-DD 形式の日付を入力してください。", "Enter a date as YYYY-MM-DD."),
    "form.err.invalid": ("入力を確認してください: {detail}", "Check this field: {detail}"),
    "form.err.one_deadline": (
        "期限の日付か会議のどちらか一方を指定してください。",
        "Give either a deadline date or a meeting, not both.",
    ),
    "form.err.benefit": (
        "効果は「1件あたりの効果と月間件数」か「期間の効果総額」のどちらか一方で指定してください。",
        "State the benefit one way: a benefit per unit with the monthly volume, or a total benefit.",
    ),
    "form.err.cost": ("費用を1つ以上入力してください。", "Enter at least one cost."),
    # --- the register --------------------------------------------------------
    "register.title": ("要望一覧", "Register"),
    "register.now": ("現在", "now"),
    "register.meeting": ("会議", "Meeting"),
    "register.meeting_option": ("第{n}回 ({day})", "Meeting {n} ({day})"),
    "register.filters": ("絞り込み", "Filters"),
    "register.stage": ("段階", "Stage"),
    "register.category": ("区分", "Category"),
    "register.target": ("対象箇所", "Target"),
    "register.q": ("本文・回答の検索", "Search body and answers"),
    "register.sort": ("並べ替え", "Sort by"),
    "register.order": ("順序", "Order"),
    "register.asc": ("昇順", "ascending"),
    "register.desc": ("降順", "descending"),
    "register.any": ("すべて", "any"),
    "register.apply": ("表示", "Show"),
    "register.reset": ("条件をクリア", "Clear"),
    "register.download": ("資料2 (全件) をダウンロード", "Download the whole register"),
    "register.download.html": ("印刷用 HTML", "printable HTML"),
    "meeting.open": ("会議を開く", "Open a meeting"),
    "meeting.number": ("回 (第N回)", "Number (meeting N)"),
    "meeting.date": ("開催日", "Date held"),
    "meeting.title": ("名称 (任意)", "Title (optional)"),
    "meeting.opened": ("第{n}回を開きました。", "Meeting {n} is open."),
    "meeting.reschedule": ("第{n}回の開催日を変更する", "Reschedule meeting {n}"),
    "meeting.new_date": ("新しい開催日", "New date"),
    "meeting.rescheduled": ("第{n}回の開催日を変更しました。", "Meeting {n} is rescheduled."),
    "meeting.deadlines_following": (
        "第{n}回までの賛同期限 {count}件を新しい開催日に合わせました。",
        "{count} support deadline(s) until meeting {n} now run to its new date.",
    ),
    "meeting.deadlines_kept": (
        "第{n}回までの賛同期限 {count}件は、会議が早まったため元の期限のままです。",
        "{count} support deadline(s) until meeting {n} keep their later date: the meeting comes earlier.",
    ),
    "meeting.invalid": (
        "回は1以上の整数、開催日は年月日 (YYYY-MM-DD) で入力してください。",
        "Give the number as a whole number from 1 and the date as YYYY-MM-DD.",
    ),
    "register.publish": (
        "第{n}回の資料2を公開する (内容のダイジェストを記録)",
        "Publish the register of meeting {n} (records its digest)",
    ),
    "register.published": (
        "第{n}回の資料2を公開しました。SHA-256: {digest}",
        "The register of meeting {n} is published. SHA-256: {digest}",
    ),
    "register.count": ("{shown}件 / {total}件", "{shown} of {total}"),
    "register.pages": ("ページ", "Pages"),
    "register.page": (
        "{pages}ページ中{page}ページ目（{first}〜{last}件目）",
        "page {page} of {pages} (rows {first}–{last})",
    ),
    "register.prev": ("← 前へ", "← previous"),
    "register.next": ("次へ →", "next →"),
    "register.empty": ("該当する要望はありません。", "No request matches."),
    "register.replay_note": (
        "第{n}回時点の記録をイベントから再生しています (監査用の再生)。",
        "Replayed from the events as of meeting {n} (the auditor's replay).",
    ),
    "register.col.stage": ("段階", "Stage"),
    "register.col.deadline": ("期限", "Deadline"),
    "register.support": ("賛同数", "Support"),
    "sort.number": ("No.", "No."),
    "sort.stage": ("段階", "Stage"),
    "sort.category": ("区分", "Category"),
    "sort.target": ("対象箇所", "Target"),
    "sort.support": ("賛同数", "Support"),
    "sort.deadline": ("期限", "Deadline"),
    # --- time ----------------------------------------------------------------
    "time.left_days": ("残り{days}日{hours}時間", "{days} d {hours} h left"),
    "time.left_hours": ("残り{hours}時間{minutes}分", "{hours} h {minutes} min left"),
    "time.passed": ("期限切れ", "passed"),
    "time.none": ("—", "—"),
    # --- a request -----------------------------------------------------------
    "request.title": ("No.{n} {target}", "No.{n} {target}"),
    "request.proposer": ("提案者", "Proposer"),
    "request.filed": ("登録日時", "Filed"),
    "request.body": ("ご意見・ご要望", "Opinion / request"),
    "request.notes": ("追記", "Appended notes"),
    "request.no_notes": ("追記はありません。", "No notes appended."),
    "request.answers": ("回答", "Answers"),
    "request.no_answers": ("回答はまだありません。", "No answer yet."),
    "request.corrected": ("訂正済み", "corrected"),
    "request.continued": ("継続", "continued"),
    "request.stage": ("段階", "Stage"),
    "request.held_from": ("保留前の段階: {stage}", "Held from: {stage}"),
    "request.hold_reason": ("保留理由: {reason}", "Held because: {reason}"),
    "request.closure": ("クローズ理由: {reason}", "Closed: {reason}"),
    "request.lifecycle": ("ライフサイクル", "Lifecycle"),
    "request.endorsers": ("賛同した会社", "Endorsing companies"),
    "request.no_endorsers": ("賛同はまだありません。", "No endorsement yet."),
    "request.support": (
        "賛同数 {support} / 必要数 {threshold} (提案者を含む)",
        "Support {support} of {threshold} needed (proposer included)",
    ),
    "request.deadlines": ("期限", "Deadlines"),
    "request.no_deadlines": ("進行中の期限はありません。", "No deadline running."),
    "request.planned_release": ("リリース予定日", "Planned release"),
    "request.released_on": ("リリース日", "Released on"),
    "request.findings": ("ヒアリング結果", "Hearing findings"),
    "request.cost": ("費用対効果評価", "Cost evaluation"),
    "request.objections": ("意見照会で出た問題", "Objections raised"),
    "request.objection_withdrawn": ("取り下げ", "withdrawn"),
    "request.objection_dismissed": ("妨げとしない", "ruled not blocking"),
    "request.window_short_of_support": (
        "意見照会の終了時に賛同数が条件を下回っていたため、費用対効果評価に戻りました",
        "The window ended with support below the threshold: back to the cost evaluation",
    ),
    "request.clarifications": (
        "確認事項 (提案者と事務局のみ閲覧可)",
        "Clarifications (proposer and secretariat only)",
    ),
    "request.clarification_q": ("質問", "Question"),
    "request.clarification_a": ("回答", "Reply"),
    "request.clarification_due": ("回答期限", "Reply due"),
    "request.clarification_pending": ("未回答", "not answered yet"),
    "request.clarification_withdrawn": ("事務局が取り下げ", "Withdrawn by the secretariat"),
    "request.timeline": ("経緯 (全イベント)", "Timeline (every event)"),
    "request.actions": ("操作", "Actions"),
    "request.no_actions": (
        "いまあなたが行える操作はありません。",
        "There is nothing you can do here now.",
    ),
    "request.support_until": ("賛同の受付", "Endorsements taken until"),
    "request.done": ("記録しました: {action}", "Recorded: {action}"),
    "request.after_meeting_day": (
        "第{meeting}回の開催日は過ぎています。この記録は第{meeting}回ではなく次の会議の資料2に載ります。",
        "Meeting {meeting} has been held: this record shows in the next meeting's register, "
        "not in meeting {meeting}'s.",
    ),
    "request.private": ("非公開 (提案者と事務局のみ)", "private (proposer and secretariat only)"),
    "request.related": ("関連", "Related"),
    "timeline.when": ("日時", "When"),
    "timeline.who": ("誰が", "Who"),
    "timeline.meeting": ("会議", "Meeting"),
    "timeline.event": ("出来事", "Event"),
    "timeline.details": ("内容", "Details"),
    "meeting.n": ("第{n}回", "meeting {n}"),
    "cost.item": ("項目", "Item"),
    "cost.amount": ("金額 (円)", "Amount (yen)"),
    "cost.benefit": ("効果 ({years}年)", "Benefit ({years} years)"),
    "cost.total_cost": ("費用合計", "Total cost"),
    "cost.ratio": ("費用対効果 (効果 ÷ 費用)", "Ratio (benefit ÷ cost)"),
    "cost.verdict": ("判定", "Verdict"),
    "cost.effective": ("費用対効果あり", "cost-effective"),
    "cost.not_effective": ("費用対効果なし", "not cost-effective"),
    "cost.volume": (
        "月間件数 {volume} × 1件あたり {unit} 円",
        "{volume} a month × {unit} yen each",
    ),
    "cost.central": ("広域機関システム", "Central system"),
    "cost.members": ("小売電気事業者側", "Members' systems"),
    "cost.network_operators": ("一般送配電事業者側", "Network operators' systems"),
    # --- filing --------------------------------------------------------------
    "file.title": ("要望・意見・質問の新規登録", "File a request, opinion or question"),
    "file.category": ("区分", "Category"),
    "file.target": ("対象箇所 (頁・章・節など)", "Target (page, chapter, section)"),
    "file.body": ("ご意見・ご要望", "Opinion / request"),
    "file.submit": ("登録する", "File it"),
    "file.members_only": ("登録できるのは会員だけです。", "Only members file requests."),
    # --- audit ---------------------------------------------------------------
    "audit.title": ("監査", "Audit"),
    "audit.meetings": ("会議", "Meetings"),
    "audit.no_meetings": ("会議はまだ開かれていません。", "No meeting has been opened yet."),
    "audit.held": ("開催日", "Held on"),
    "audit.placeholder": ("開催日不明", "date unknown"),
    "audit.published": ("公表", "Published"),
    "audit.as_of": ("この時点の要望一覧", "Register as of then"),
    "audit.diffs": ("会議間の変更", "Changes between meetings"),
    "audit.diff_heading": ("第{a}回 → 第{b}回", "Meeting {a} → meeting {b}"),
    "audit.no_changes": ("変更なし", "no changes"),
    "audit.new_requests": ("新規の要望", "New requests"),
    "audit.stage_changes": ("段階の変更", "Stage changes"),
    "audit.new_answers": ("新しい回答", "New answers"),
    "audit.support_changes": ("賛同数の変更", "Support changes"),
    "audit.unknown": ("不明", "unknown"),
    "audit.verify": ("記録の検証 (ringi audit verify)", "Integrity check (ringi audit verify)"),
    "audit.verify_clean": (
        "異常なし: {chains}本のチェーン、{events}件のイベントを検証しました。",
        "Clean: {chains} chains and {events} events verified.",
    ),
    "audit.verify_findings": ("{count}件の異常が見つかりました。", "{count} findings."),
    "audit.charts": ("グラフ", "Charts"),
    "audit.roles_only": (
        "監査ページは監査人と事務局だけが開けます。",
        "Only auditors and the secretariat open the audit page.",
    ),
    # --- actions (titles and their buttons) -----------------------------------
    "action.endorse": ("賛同する", "Endorse"),
    "action.unendorse": ("賛同を取り下げる", "Withdraw my endorsement"),
    "action.withdraw": ("要望を取り下げる", "Withdraw the request"),
    "action.notes": ("追記する", "Append a note"),
    "action.clarification-answer": ("確認事項に回答する", "Answer the clarification"),
    "action.objections": ("問題を申し出る (意見照会)", "Raise an objection"),
    "action.objection-withdrawal": ("申し出た問題を取り下げる", "Withdraw my objection"),
    "action.objection-dismissals": ("問題を実施の妨げとしない", "Rule an objection not blocking"),
    "action.open-support": ("賛同募集を開始する", "Open support gathering"),
    "action.ask-clarification": ("提案者に確認する", "Ask the proposer to clarify"),
    "action.clarification-withdrawal": ("確認事項を取り下げる", "Withdraw the question"),
    "action.proposer": ("提案者を記録する (取り込んだ要望)", "Name the proposer (imported)"),
    "action.carry-forward": (
        "回答に沿って段階を進める (取り込んだ要望)",
        "Carry forward to where its answers say (imported)",
    ),
    "action.extend-deadline": ("期限を延長する", "Extend the deadline"),
    "action.open-hearing": ("事業者ヒアリングを開始する", "Open the hearing"),
    "action.findings": ("ヒアリング結果を記録する", "Record hearing findings"),
    "action.cost-evaluation": ("費用対効果を評価する", "Evaluate the cost"),
    "action.open-objection-window": ("意見照会を開始する", "Open the objection window"),
    "action.approve": ("改修実施を承認する", "Approve implementation"),
    "action.change-release": ("リリース予定日を変更する", "Change the planned release"),
    "action.release": ("リリースを記録する", "Record the release"),
    "action.hold": ("保留にする", "Put on hold"),
    "action.resume": ("再開する", "Resume"),
    "action.close": ("クローズする", "Close"),
    "action.answers": ("回答を記録する", "Record an answer"),
    "action.answer-corrections": ("回答を訂正する", "Correct an answer"),
    # the secretariat's discretion and after the end (issue 20)
    "action.hear-below-threshold": (
        "賛同数に満たないままヒアリングを行う",
        "Hold the hearing below the threshold",
    ),
    "action.cost-evaluation-without-hearing": (
        "ヒアリングを行わず費用対効果を評価する",
        "Evaluate the cost without a hearing",
    ),
    "action.reopen": ("再開する (クローズを取り消す)", "Reopen"),
    # the secretariat's windows (issue 20)
    "action.final-call": (
        "最終確認: 会議までに賛同がなければクローズ",
        "Final call: closed unless supported by a meeting",
    ),
    "action.end-support": ("賛同募集を終了する", "End support gathering"),
    "action.end-objection-window": (
        "意見照会を終了する (問題なし)",
        "Conclude the objection window",
    ),
    "field.final_call_meeting": ("次回会議 (第N回) まで", "until meeting (第N回)"),
    "field.objection_deadline": ("意見照会の期限", "objection window ends"),
    # --- action fields -------------------------------------------------------
    "field.text": ("本文", "Text"),
    "field.discretion_reason": ("理由", "Reason"),
    "request.discretion.hear_below_threshold": (
        "賛同数に満たないままヒアリング",
        "Hearing below the threshold",
    ),
    "request.discretion.evaluate_without_hearing": (
        "ヒアリングなしで費用対効果を評価",
        "Cost evaluated without a hearing",
    ),
    "request.discretion.reopen": ("再開 (クローズ後)", "Reopened"),
    "request.answered_together": ("同じ回答:", "also given to"),
    "field.reopen_deadline": (
        "新しい賛同募集の期限 (賛同不足でクローズした場合、空欄なら規定の期間)",
        "New support deadline (closed short of support; empty: the policy's window)",
    ),
    "field.note": ("追記の内容", "Note"),
    "field.reply": ("回答の内容", "Reply"),
    "field.reason": ("理由", "Reason"),
    "field.objection": ("問題の内容", "The problem"),
    "field.objection_company": ("申し出た事業者", "Objection by"),
    "field.company": ("事業者", "Company"),
    "field.stage": ("段階", "Stage"),
    "field.carry_reason": ("根拠 (資料2の回答)", "Why (the register's answers)"),
    "field.dismissal": ("妨げとしない理由", "Why it does not block"),
    "field.question": ("質問", "Question"),
    "field.answer": ("回答", "Answer"),
    "field.findings": ("ヒアリング結果", "Findings"),
    "field.meeting": ("会議", "Meeting"),
    "field.no_meeting": ("指定しない", "none"),
    "field.deadline": (
        "新しい期限 (日付、日本時間のその日の終わりまで)",
        "New deadline (a date; lasts to the end of that day in Japan)",
    ),
    "field.support_deadline": (
        "賛同募集の期限 (空欄なら規定の期間)",
        "Support deadline (empty: the policy's window)",
    ),
    "field.until_meeting": ("または次の会議まで", "or until meeting"),
    "field.planned_release": ("リリース予定日", "Planned release"),
    "field.released_on": ("リリース日 (空欄なら本日)", "Released on (empty: today)"),
    "field.close_reason": ("クローズ理由", "Reason for closing"),
    "field.duplicate_of": ("重複先の No.", "Duplicate of No."),
    "field.close_note": ("補足", "Note"),
    "field.continued": (
        "継続 (次回会議に持ち越し)",
        "Continued (carried over to the next meeting)",
    ),
    "field.answer_id": ("訂正する回答", "Answer to correct"),
    "field.correction": ("訂正後の回答", "Corrected answer"),
    "field.monthly_volume": ("月間件数", "Monthly volume"),
    "field.benefit_per_unit_yen": ("1件あたりの効果 (円)", "Benefit per unit (yen)"),
    "field.total_benefit_yen": ("期間の効果総額 (円)", "Total benefit over the horizon (yen)"),
    "field.cost_central": ("費用: 広域機関システム (円)", "Cost: central system (yen)"),
    "field.cost_members": ("費用: 小売電気事業者側 (円)", "Cost: members' systems (yen)"),
    "field.cost_network_operators": (
        "費用: 一般送配電事業者側 (円)",
        "Cost: network operators' systems (yen)",
    ),
    # --- stages (English; the Japanese is Stage.label_ja) ---------------------
    "stage.filed": ("", "Filed"),
    "stage.gathering_support": ("", "Gathering support"),
    "stage.hearing": ("", "Hearing"),
    "stage.cost_evaluation": ("", "Cost evaluation"),
    "stage.objection_window": ("", "Objection window"),
    "stage.implementation": ("", "Implementation"),
    "stage.on_hold": ("", "On hold"),
    "stage.released": ("", "Released"),
    "stage.closed": ("", "Closed"),
    # --- close reasons -------------------------------------------------------
    "close.insufficient_support": ("賛同数不足", "insufficient support"),
    "close.not_cost_effective": ("費用対効果なし", "not cost-effective"),
    "close.out_of_scope": ("対象外", "out of scope"),
    "close.resolved_without_change": (
        "運用等で解決 (改修なし)",
        "resolved without a system change",
    ),
    "close.duplicate": ("重複", "duplicate"),
    "close.withdrawn": ("取り下げ", "withdrawn"),
    "close.answered": ("回答済み", "answered"),
    "close.imported": ("取り込み時点でクローズ", "closed before ringi (imported)"),
    # --- what the events in the timeline record ------------------------------
    "detail.answer_id": ("回答番号", "answer"),
    "detail.body": ("ご意見・ご要望", "request"),
    "detail.category": ("区分", "category"),
    "detail.clarification_id": ("確認番号", "clarification"),
    "detail.company": ("会社", "company"),
    "detail.continued": ("継続", "carried over"),
    "detail.corrects": ("訂正する回答", "corrects"),
    "detail.dated": ("日付", "dated"),
    "detail.deadline": ("期限", "deadline"),
    "detail.due": ("予定日時", "due"),
    "detail.duplicate_of": ("重複先の No.", "duplicate of No."),
    "detail.ends_at": ("終了日時", "ends"),
    "detail.evaluation": ("費用対効果評価", "cost evaluation"),
    "detail.held_for_seconds": ("保留期間 (秒)", "held for (seconds)"),
    "detail.held_from": ("保留開始", "held from"),
    "detail.kind": ("種類", "kind"),
    "detail.mark": ("改修・対応希望欄", "last column"),
    "detail.note": ("補足", "note"),
    "detail.number": ("No.", "No."),
    "detail.objections": ("意見", "objections"),
    "detail.planned_release": ("リリース予定日", "planned release"),
    "detail.policy": ("適用された規定", "policy in force"),
    "detail.question": ("質問", "question"),
    "detail.reason": ("理由", "reason"),
    "detail.related": ("関連する No.", "related No."),
    "detail.released_on": ("リリース日", "released on"),
    "detail.reply_due": ("回答期限", "reply due"),
    "detail.source": ("出典", "source"),
    "detail.stage": ("段階", "stage"),
    "detail.support": ("賛同数", "support"),
    "detail.target": ("対象箇所", "target"),
    "detail.text": ("内容", "text"),
    "detail.until_meeting": ("会議まで", "until meeting"),
    "detail.short_of_support": ("賛同数が条件未満", "support below the threshold"),
    # --- events in the timeline ----------------------------------------------
    "event.Filed": ("登録", "filed"),
    "event.SupportGatheringOpened": ("賛同募集開始", "support gathering opened"),
    "event.Endorsed": ("賛同", "endorsed"),
    "event.EndorsementWithdrawn": ("賛同取り下げ", "endorsement withdrawn"),
    "event.SupportThresholdMet": ("賛同数の条件を満たした", "support threshold met"),
    "event.SupportDeadlineExtended": ("賛同期限延長", "support deadline extended"),
    "event.FinalCallIssued": ("最終確認 (次回までに賛同がなければクローズ)", "final call issued"),
    "event.SupportWindowClosed": ("賛同募集終了", "support window closed"),
    "event.NoteAppended": ("追記", "note appended"),
    "event.NoteImported": ("追記 (取り込み)", "note imported"),
    "event.ImportedFromRegister": ("資料2から取り込み", "imported from a register"),
    "event.ClarificationAsked": ("確認事項の質問", "clarification asked"),
    "event.ClarificationAnswered": ("確認事項への回答", "clarification answered"),
    "event.ClarificationWithdrawn": ("確認事項の取り下げ", "clarification withdrawn"),
    "event.ProposerIdentified": ("提案者の記録", "proposer named"),
    "event.CarriedForward": ("段階の引き継ぎ (取り込み)", "carried forward (imported)"),
    "event.HearingOpened": ("事業者ヒアリング開始", "hearing opened"),
    "event.HearingFindingsRecorded": ("ヒアリング結果記録", "hearing findings recorded"),
    "event.CostEvaluated": ("費用対効果評価", "cost evaluated"),
    "event.ObjectionWindowOpened": ("意見照会開始", "objection window opened"),
    "event.ObjectionWindowExtended": ("意見照会期限延長", "objection window extended"),
    "event.ObjectionRaised": ("問題の申し出", "objection raised"),
    "event.ObjectionWithdrawn": ("問題の取り下げ", "objection withdrawn"),
    "event.ObjectionDismissed": ("問題を妨げとしない判断", "objection ruled not blocking"),
    "event.ObjectionWindowEnded": ("意見照会終了", "objection window ended"),
    "event.ImplementationApproved": ("改修実施承認", "implementation approved"),
    "event.ReleaseDateChanged": ("リリース予定日変更", "release date changed"),
    "event.Released": ("リリース", "released"),
    "event.Held": ("保留", "held"),
    "event.Resumed": ("再開", "resumed"),
    "event.Closed": ("クローズ", "closed"),
    "event.AnswerRecorded": ("回答", "answer recorded"),
    "event.AnswerCorrected": ("回答の訂正", "answer corrected"),
    "event.Reminded": ("リマインド送信", "reminder sent"),
}


class Translator:
    """The words of one language, as the templates use them."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self.words = WORDS[lang]  # the register's own words

    def __call__(self, key: str, **values: object) -> str:
        ja, en = _CATALOG[key]
        text = ja if self.lang == "ja" else en
        return text.format(**values) if values else text

    @property
    def other(self) -> Lang:
        return "en" if self.lang == "ja" else "ja"

    def stage(self, stage: Stage) -> str:
        return stage.label_ja if self.lang == "ja" else self(f"stage.{stage.value}")

    def category(self, category: Category) -> str:
        return self.words.categories[category]

    def status(self, status: Status) -> str:
        return self.words.status[status]

    def role(self, role: Role) -> str:
        return self(f"role.{role.value}")

    def close_reason(self, reason: CloseReason) -> str:
        return self(f"close.{reason.value}")

    def bearer(self, bearer: CostBearer) -> str:
        return self(f"cost.{bearer.value}")

    def event(self, name: str) -> str:
        key = f"event.{name}"
        return self(key) if key in _CATALOG else name

    def detail(self, name: str) -> str:
        """What an event's recorded attribute is called (its own name if it has no label)."""
        key = f"detail.{name}"
        return self(key) if key in _CATALOG else name

    def meeting(self, number: int | None) -> str:
        return self("meeting.n", n=number) if number is not None else ""

    def time_left(self, deadline: datetime | None, now: datetime) -> str:
        if deadline is None:
            return self("time.none")
        left = deadline - now
        if left <= timedelta(0):
            return self("time.passed")
        days, rest = divmod(int(left.total_seconds()), 86_400)
        hours, rest = divmod(rest, 3_600)
        if days:
            return self("time.left_days", days=days, hours=hours)
        return self("time.left_hours", hours=hours, minutes=rest // 60)

    @staticmethod
    def when(moment: datetime | None) -> str:
        """ISO date and time in Japan, as the register prints them."""
        return shown(moment) if moment is not None else "—"


def parse_lang(value: str | None) -> Lang | None:
    match value:
        case "ja":
            return "ja"
        case "en":
            return "en"
    return None


def has_both_languages(key: str) -> bool:
    """For the tests: a key says something in each language (stages say their
    Japanese through ``Stage.label_ja``)."""
    ja, en = _CATALOG[key]
    return bool(en) and (bool(ja) or key.startswith("stage."))


def catalog_keys() -> list[str]:
    return list(_CATALOG)
